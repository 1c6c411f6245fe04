"""Names in a Route 53 zone: DNS-validated ACM certificates, and alias records to the stack."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class CertificateArgs:
    domain: str
    hosted_zone_id: str
    provider: aws.Provider | None = None  # us-east-1 for CloudFront; None: the stack's region


class DnsCertificate(pulumi.ComponentResource):
    """An ACM certificate for one name, validated by a record in the zone; `arn` once issued."""

    def __init__(
        self, name: str, args: CertificateArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("imagepipe:domain:DnsCertificate", name, None, opts)
        regional = pulumi.ResourceOptions(parent=self, provider=args.provider)
        certificate = aws.acm.Certificate(
            name, domain_name=args.domain, validation_method="DNS", opts=regional
        )
        option = certificate.domain_validation_options[0]
        record = aws.route53.Record(
            f"{name}-validation",
            zone_id=args.hosted_zone_id,
            name=option.resource_record_name,
            type=option.resource_record_type,
            records=[option.resource_record_value],
            ttl=300,
            allow_overwrite=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        validation = aws.acm.CertificateValidation(
            name,
            certificate_arn=certificate.arn,
            validation_record_fqdns=[record.fqdn],
            opts=regional,
        )
        self.arn: pulumi.Output[str] = validation.certificate_arn
        self.register_outputs({"arn": self.arn})


def alias(
    name: str,
    hosted_zone_id: str,
    domain: str,
    target_domain: pulumi.Input[str],
    target_zone_id: pulumi.Input[str],
) -> list[aws.route53.Record]:
    """A and AAAA alias records from `domain` to a CloudFront distribution or load balancer."""
    return [
        aws.route53.Record(
            f"{name}-{kind.lower()}",
            zone_id=hosted_zone_id,
            name=domain,
            type=kind,
            aliases=[
                {"name": target_domain, "zone_id": target_zone_id, "evaluate_target_health": False}
            ],
        )
        for kind in ("A", "AAAA")
    ]
