"""Runs the Pulumi program under Pulumi's mocks and records every resource's inputs.

No engine, CLI or provider plugin: `pulumi.runtime.set_mocks` answers each registration with
its own inputs (plus the ARN, URL and name outputs the program reads), and
`pulumi.runtime.test` waits until every registration has been answered.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

INFRA = Path(__file__).resolve().parents[2] / "infra" / "pulumi"
if str(INFRA) not in sys.path:
    sys.path.insert(0, str(INFRA))

ACCOUNT = "123456789012"
REGION = "eu-west-1"
PUBLIC_KEY = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqh\n-----END PUBLIC KEY-----\n"  # mocks only
CONFIG: dict[str, str] = {
    "aws:region": REGION,
    "imagepipe:originDomain": "origin.images.example.com",
    "imagepipe:apiCertificateArn": f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/api",
    "imagepipe:cloudfrontPublicKey": PUBLIC_KEY,
    "imagepipe:secretKey": "not-a-real-secret",
    "imagepipe:maxReceiveCount": "7",  # not the default 5: the tests see config reach the queues
    "imagepipe:webOrigins": json.dumps(["https://app.example.com"]),
}


@dataclass
class Recorded:
    type: str
    name: str
    inputs: dict[str, Any]
    provider: str
    depends_on: list[str] = field(default_factory=list)  # names of explicit dependencies
    secret_inputs: set[str] = field(default_factory=set)  # top-level inputs Pulumi keeps secret


@dataclass
class Stack:
    resources: list[Recorded]

    def of(self, type_: str) -> list[Recorded]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name_part: str = "") -> Recorded:
        found = [r for r in self.of(type_) if name_part in r.name]
        assert len(found) == 1, (type_, name_part, [r.name for r in found])
        return found[0]

    def by_id(self, type_: str, resource_id: str) -> Recorded:
        found = [r for r in self.of(type_) if f"{r.name}-id" == resource_id]
        assert len(found) == 1, (type_, resource_id)
        return found[0]


def _physical_name(args: pulumi.runtime.MockResourceArgs) -> str:
    inputs = args.inputs
    return str(inputs.get("name") or inputs.get("bucket") or inputs.get("domain") or args.name)


def _outputs(args: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
    """The outputs the program reads, shaped like AWS's."""
    kind = args.typ.split(":")[1].split("/")[0]  # aws:sqs/queue:Queue -> sqs
    name = _physical_name(args)
    outputs: dict[str, Any] = {**args.inputs, "name": name}
    if args.typ == "aws:s3/bucket:Bucket":
        outputs |= {
            "arn": f"arn:aws:s3:::{name}",
            "bucket": name,
            "bucketRegionalDomainName": f"{name}.s3.{REGION}.amazonaws.com",
        }
    elif args.typ == "aws:sqs/queue:Queue":
        outputs |= {
            "arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}",
            "url": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}",
        }
    elif args.typ == "aws:lambda/function:Function":
        arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"
        outputs |= {"arn": arn, "qualifiedArn": f"{arn}:1", "version": "1"}
    elif args.typ == "aws:cloudfront/distribution:Distribution":
        outputs |= {
            "arn": f"arn:aws:cloudfront::{ACCOUNT}:distribution/{args.name}",
            "domainName": "d111111abcdef8.cloudfront.net",
            "hostedZoneId": "Z2FDTNDATAQYW2",
        }
    elif args.typ == "aws:lb/loadBalancer:LoadBalancer":
        outputs |= {
            "arn": f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/{name}/1",
            "arnSuffix": f"app/{name}/1",
            "dnsName": f"{name}.{REGION}.elb.amazonaws.com",
            "zoneId": "Z32O12XQLNTSW2",
        }
    elif args.typ == "aws:acm/certificate:Certificate":
        domain = args.inputs["domainName"]
        outputs |= {
            "arn": f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/{domain}",
            "domainValidationOptions": [
                {
                    "domainName": domain,
                    "resourceRecordName": f"_x.{domain}.",
                    "resourceRecordType": "CNAME",
                    "resourceRecordValue": "_y.acm-validations.aws.",
                }
            ],
        }
    elif args.typ == "aws:acm/certificateValidation:CertificateValidation":
        outputs["certificateArn"] = args.inputs["certificateArn"]
    elif args.typ == "aws:route53/record:Record":
        outputs["fqdn"] = str(args.inputs["name"]).rstrip(".")
    elif args.typ == "aws:ecr/repository:Repository":
        outputs |= {
            "arn": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{name}",
            "repositoryUrl": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{name}",
        }
    else:
        outputs.setdefault("arn", f"arn:aws:{kind}:{REGION}:{ACCOUNT}:{args.name}")
    return outputs


# How a secret value reaches the mocks: a dict with Pulumi's signature key (its wire format).
_SECRET_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(_SECRET_KEY) == _SECRET_SIG


def _plain(value: Any) -> Any:
    """The value with every secret unwrapped, so tests read it as they read any other."""
    if _is_secret(value):
        return _plain(value["value"])
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class Recorder(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[Recorded] = []
        self.depends: dict[tuple[str, str], list[str]] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = dict(args.inputs)
        secret = {k for k, v in inputs.items() if _is_secret(v)}
        plain = {k: _plain(v) for k, v in inputs.items()}
        self.resources.append(Recorded(args.typ, args.name, plain, args.provider or "", [], secret))
        return f"{args.name}-id", _outputs(args)

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        return {}

    def transformation(
        self, args: pulumi.ResourceTransformationArgs
    ) -> pulumi.ResourceTransformationResult | None:
        """Keeps each resource's explicit dependencies (mocks do not see them)."""
        depends = args.opts.depends_on or []
        if not isinstance(depends, list):
            depends = [depends]
        self.depends[args.type_, args.name] = [getattr(d, "_name", "") for d in depends]
        return None


def run(
    config: Mapping[str, str] | None = None,
    extra: Callable[[], None] | None = None,
    *,
    replace: bool = False,
) -> Stack:
    """The stack's resources: built with CONFIG plus `config` (only `config` with `replace`),
    then `extra()`."""
    from imagepipe_infra.config import StackConfig
    from imagepipe_infra.stack import build

    recorder = Recorder()
    pulumi.runtime.set_mocks(recorder, project="imagepipe", stack="test", preview=False)
    pulumi.runtime.set_all_config(dict(config or {}) if replace else {**CONFIG, **(config or {})})

    def program() -> None:
        pulumi.runtime.register_stack_transformation(recorder.transformation)
        build(StackConfig.load())
        if extra is not None:
            extra()

    pulumi.runtime.test(program)()
    for resource in recorder.resources:
        resource.depends_on = recorder.depends.get((resource.type, resource.name), [])
    return Stack(recorder.resources)
