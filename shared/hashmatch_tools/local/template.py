"""template.yaml read as CloudFormation reads it: the file as plain data, its parameters' values, and its intrinsic functions resolved.

Intrinsics resolves Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::Select, Fn::If, Fn::Equals, Fn::Not and
conditions. It owns no resource: a Ref or GetAtt of one asks the `ref` and `attribute` callables it
was given, so that the local stack creates what a property names before the property is used (stack.py).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable, Mapping

from cfnlint.decode import cfn_yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = REPO_ROOT / "template.yaml"

# What Ref AWS::NoValue resolves to: the property or list item that holds it is left out.
NO_VALUE = object()


def load_template(path: Path | str = TEMPLATE) -> dict:
    """template.yaml as plain data, CloudFormation's short-form tags (!Ref, !GetAtt, !Sub, ...) in their long forms (cfn-lint's decoder)."""
    return json.loads(json.dumps(cfn_yaml.load(str(path))))


def function_properties(template: dict, logical_id: str) -> dict:
    """A SAM function's properties with the Globals applied (environment maps merged, function wins)."""
    defaults = template.get("Globals", {}).get("Function", {})
    own = template["Resources"][logical_id]["Properties"]
    merged = {**defaults, **own}
    variables = {**defaults.get("Environment", {}).get("Variables", {}), **own.get("Environment", {}).get("Variables", {})}
    merged["Environment"] = {"Variables": variables}
    return merged


def parameter_values(template: dict, overrides: Mapping[str, str]) -> dict[str, str]:
    """Every parameter the template declares, with its value: the override's, else the template's default."""
    declared = template.get("Parameters", {})
    unknown = set(overrides) - set(declared)
    if unknown:
        raise KeyError(f"template.yaml declares no parameter {', '.join(sorted(unknown))}")
    values = {}
    for name, spec in declared.items():
        if name in overrides:
            values[name] = str(overrides[name])
        elif "Default" in spec:
            values[name] = str(spec["Default"])
        else:
            raise KeyError(f"parameter {name} has no default: pass it in parameters=")
    return values


class Intrinsics:
    """The template's intrinsic functions and conditions, evaluated with given parameter values, pseudo parameters and resources."""

    def __init__(
        self,
        template: dict,
        parameters: Mapping[str, str],
        pseudo: Mapping[str, str],
        ref: Callable[[str], str],
        attribute: Callable[[str, str], str],
    ):
        self.template = template
        self.parameters = parameters
        self.pseudo = pseudo  # AWS::AccountId, AWS::Region, ...
        self._resource_ref = ref  # a resource's physical id, by logical id
        self._resource_attribute = attribute  # a resource's Fn::GetAtt attribute, by logical id and name

    def ref(self, name: str) -> Any:
        """What Ref of `name` is: a pseudo parameter's value, a parameter's value, or a resource's physical id (NO_VALUE for AWS::NoValue)."""
        if name == "AWS::NoValue":
            return NO_VALUE
        if name.startswith("AWS::"):
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self._resource_ref(name)

    def resolve(self, value: Any) -> Any:
        """`value` with every intrinsic function in it evaluated (properties holding AWS::NoValue left out)."""
        if isinstance(value, dict):
            if len(value) == 1:
                (key, argument), = value.items()
                if key == "Ref":
                    return self.ref(argument)
                if key == "Fn::GetAtt":
                    logical_id, name = argument if isinstance(argument, list) else argument.split(".", 1)
                    return self._resource_attribute(logical_id, name)
                if key == "Fn::Sub":
                    return self._sub(argument)
                if key == "Fn::Join":
                    separator, items = argument
                    return separator.join(str(self.resolve(item)) for item in self.resolve(items))
                if key == "Fn::Select":
                    position, items = argument
                    return self.resolve(items)[int(self.resolve(position))]
                if key == "Fn::If":
                    condition, when_true, when_false = argument
                    return self.resolve(when_true if self.condition(condition) else when_false)
                if key == "Fn::Equals":
                    first, second = argument
                    return str(self.resolve(first)) == str(self.resolve(second))
                if key == "Fn::Not":
                    [condition] = argument
                    return not self.resolve(condition)
                if key == "Condition":
                    return self.condition(argument)
                if key.startswith("Fn::"):
                    raise NotImplementedError(f"the local stack does not evaluate {key}")
            resolved = {key: self.resolve(item) for key, item in value.items()}
            return {key: item for key, item in resolved.items() if item is not NO_VALUE}
        if isinstance(value, list):
            return [item for item in (self.resolve(item) for item in value) if item is not NO_VALUE]
        return value

    def condition(self, name: str) -> bool:
        """A condition of the template's Conditions section, evaluated with these parameters."""
        return bool(self.resolve(self.template.get("Conditions", {})[name]))

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])

        def replace(match: re.Match) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return str(self._resource_attribute(logical_id, attribute))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)
