"""Where the image and the secrets come from: an ECR repository, and Secrets Manager entries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class RegistryArgs:
    image: str | None  # an image elsewhere; None: this stack's repository
    image_tag: str
    secrets: Mapping[str, pulumi.Input[str]]  # environment variable -> secret value


class Registry(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("imagepipe:registry:Registry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.repository: aws.ecr.Repository | None = None
        if args.image:
            self.image: pulumi.Output[str] = pulumi.Output.from_input(args.image)
        else:
            self.repository = aws.ecr.Repository(
                name,
                image_tag_mutability="MUTABLE",  # the default imageTag, latest, moves
                image_scanning_configuration={"scan_on_push": True},
                encryption_configurations=[{"encryption_type": "AES256"}],
                opts=child,
            )
            self.image = pulumi.Output.concat(self.repository.repository_url, ":", args.image_tag)
        # Secret values go to Secrets Manager; tasks get them as variables, never in plain text.
        self.secret_arns: dict[str, pulumi.Output[str]] = {}
        for variable, value in args.secrets.items():
            secret = aws.secretsmanager.Secret(
                f"{name}-{variable.lower().replace('_', '-')}", opts=child
            )
            aws.secretsmanager.SecretVersion(
                f"{name}-{variable.lower().replace('_', '-')}",
                secret_id=secret.id,
                secret_string=value,
                opts=child,
            )
            self.secret_arns[variable] = secret.arn
        self.register_outputs({"image": self.image})
