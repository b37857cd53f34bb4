"""samconfig.toml, the defaults of `sam deploy --guided`, against what template.yaml needs to deploy."""

from __future__ import annotations

import tomllib
from pathlib import Path

from hashmatch_tools.local.template import load_template

ROOT = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((ROOT / "samconfig.toml").read_text())
DEPLOY = {**CONFIG["default"].get("global", {}).get("parameters", {}), **CONFIG["default"]["deploy"]["parameters"]}
TEMPLATE = load_template(ROOT / "template.yaml")
# The properties that give an IAM resource a name of its own, which CloudFormation acknowledges only with CAPABILITY_NAMED_IAM.
IAM_NAMES = {"RoleName", "UserName", "GroupName", "ManagedPolicyName", "InstanceProfileName"}


def capabilities_the_template_needs(template: dict) -> set[str]:
    """What CloudFormation asks a deployer to acknowledge for this template, once SAM has expanded it."""
    resources = list(template["Resources"].values())
    iam = [resource for resource in resources if resource["Type"].startswith("AWS::IAM::")]
    named = any(IAM_NAMES & set(resource.get("Properties", {})) for resource in iam)
    # SAM makes a role, without a name, for each function that does not name one of its own.
    function_role = template.get("Globals", {}).get("Function", {}).get("Role")
    sam_roles = any(resource["Type"] == "AWS::Serverless::Function" and not (resource.get("Properties", {}).get("Role") or function_role) for resource in resources)
    needed = {"CAPABILITY_NAMED_IAM"} if named else {"CAPABILITY_IAM"} if iam or sam_roles else set()
    if any(resource["Type"] == "AWS::Serverless::Application" for resource in resources):
        needed.add("CAPABILITY_AUTO_EXPAND")
    return needed


def test_samconfig_is_sam_configuration_version_0_1():
    assert CONFIG["version"] == 0.1


def test_samconfig_deploys_the_stack_named_hashmatch():
    assert DEPLOY["stack_name"] == "hashmatch"


def test_samconfig_acknowledges_exactly_the_capabilities_the_template_needs():
    assert set(DEPLOY["capabilities"].split()) == capabilities_the_template_needs(TEMPLATE)


def test_samconfig_lets_sam_keep_the_packages_and_asks_before_executing_the_change_set():
    assert (DEPLOY["resolve_s3"], DEPLOY["confirm_changeset"]) == (True, True)


def test_samconfig_leaves_the_region_and_the_parameters_to_the_deployer():
    assert {"region", "parameter_overrides"} & set(DEPLOY) == set()
