"""What operators and developers run on their own machines, never deployed: the `hashmatch` CLI, the admin
commands, the robustness evaluation and the local AWS stack with its runner."""
