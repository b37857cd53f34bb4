"""The pipeline on one machine: moto's server with template.yaml's resources (stack.py), and a runner that feeds queue batches to the handlers (runner.py)."""
