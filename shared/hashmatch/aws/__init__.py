"""Adapters between the pure core and AWS: settings, the S3 upload reader, the hash set, messages, audit, quarantine."""
