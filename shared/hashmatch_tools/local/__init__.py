"""The pipeline on one machine: moto's server with template.yaml's resources, and a runner that calls the handlers as Lambda would.

    stack.py          LocalStack: the server, the template and the creators together, resources made in dependency order
    server.py         moto's server mode in a child process (MotoServer)
    template.py       template.yaml loaded, its parameters and intrinsic functions resolved (Intrinsics)
    resources.py      one creator per resource type: queues, buckets, tables, topics, alarms, Glue, Athena, policies
    functions.py      SAM's functions, layers and permissions as FunctionSpecs for the runner
    identities.py     the local IAM identities whose keys sign requests
    runner.py         Lambda's event source mappings (SQS, DynamoDB streams): batches to the handlers
    function_urls.py  function URLs served on 127.0.0.1, SigV4 checked against the identities
    shell.py          make local-stack: the stack kept up, and the export lines that point another shell at it
"""
