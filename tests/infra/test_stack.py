"""The API, auth, monitoring and the stack outputs."""

from __future__ import annotations

import json

from app.flower import flower_command
from app.settings import Settings
from tests.infra.stackmock import Stack


def test_the_api_listens_on_https_only_and_redirects_http(stack: Stack) -> None:
    listeners = {x.inputs["port"]: x.inputs for x in stack.of("aws:lb/listener:Listener")}
    assert listeners[443]["protocol"] == "HTTPS"
    assert listeners[443]["certificateArn"].endswith(":certificate/api")
    assert listeners[443]["sslPolicy"].startswith("ELBSecurityPolicy-TLS13")
    (redirect,) = listeners[80]["defaultActions"]
    assert redirect["redirect"]["protocol"] == "HTTPS"


def test_web_and_flower_take_traffic_from_the_load_balancer_only(stack: Stack) -> None:
    groups = {g.name: g.inputs for g in stack.of("aws:ec2/securityGroup:SecurityGroup")}
    for name, port in (("imagepipe-test-web", 8000), ("imagepipe-test-flower", 5555)):
        (rule,) = groups[name]["ingress"]
        assert (rule["fromPort"], rule["toPort"]) == (port, port)
        assert rule["securityGroups"] == ["imagepipe-test-alb-id"]
        assert "cidrBlocks" not in rule
    assert "ingress" not in groups["imagepipe-test-workers"]


def test_flower_is_reached_only_through_a_cognito_sign_in(stack: Stack) -> None:
    rule = stack.one("aws:lb/listenerRule:ListenerRule", "flower")
    first, second = sorted(rule.inputs["actions"], key=lambda a: a["order"])
    assert first["type"] == "authenticate-cognito"
    (pool,) = stack.of("aws:cognito/userPool:UserPool")
    (client,) = [
        c
        for c in stack.of("aws:cognito/userPoolClient:UserPoolClient")
        if c.name == "imagepipe-test"
    ]
    assert first["authenticateCognito"]["userPoolClientId"] == f"{client.name}-id"
    assert first["authenticateCognito"]["userPoolArn"].endswith(f":{pool.name}")
    assert second["type"] == "forward"
    assert rule.inputs["conditions"] == [
        {"hostHeader": {"values": ["flower.origin.images.example.com"]}}
    ]
    assert client.inputs["callbackUrls"] == [
        "https://flower.origin.images.example.com/oauth2/idpresponse"
    ]
    assert pool.inputs["adminCreateUserConfig"] == {"allowAdminCreateUserOnly": True}
    (domain,) = stack.of("aws:cognito/userPoolDomain:UserPoolDomain")
    assert domain.inputs["domain"] == "imagepipe-test"


def test_flower_listens_where_the_load_balancer_reaches_it_and_asks_for_a_login(
    stack: Stack,
) -> None:
    """Bound to its loopback, as `python -m app.flower` does by default, the ALB's health
    checks and requests could never reach it; beyond loopback app/flower.py demands a login."""
    task = stack.one("aws:ecs/taskDefinition:TaskDefinition", "-flower")
    (container,) = json.loads(task.inputs["containerDefinitions"])
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env["FLOWER_HOST"] == "0.0.0.0"  # noqa: S104 - what is asserted
    assert "FLOWER_BASIC_AUTH" in {s["name"] for s in container["secrets"]}
    (login,) = [
        v
        for v in stack.of("aws:secretsmanager/secretVersion:SecretVersion")
        if v.name.endswith("-flower-basic-auth")
    ]
    settings = Settings.from_env(
        {"IMAGEPIPE_DATA_DIR": "/nonexistent", "FLOWER_HOST": env["FLOWER_HOST"]}
        | {"FLOWER_BASIC_AUTH": login.inputs["secretString"]}
    )
    assert "--address=0.0.0.0" in flower_command(settings)  # refused without the login


def test_alarms_watch_dead_letters_queue_age_5xx_and_worker_errors(stack: Stack) -> None:
    alarms = stack.of("aws:cloudwatch/metricAlarm:MetricAlarm")
    dlq = {
        a.inputs["dimensions"]["QueueName"]: a.inputs["threshold"]
        for a in alarms
        if a.inputs.get("metricName") == "ApproximateNumberOfMessagesVisible"
    }
    assert dlq == {"imagepipe-test-uploads-dlq": 0, "imagepipe-test-imagepipe-dlq": 0}
    age = {
        a.inputs["dimensions"]["QueueName"]
        for a in alarms
        if a.inputs.get("metricName") == "ApproximateAgeOfOldestMessage"
    }
    assert age == {"imagepipe-test-uploads", "imagepipe-test-imagepipe"}
    (five_xx,) = [a for a in alarms if "metricQueries" in a.inputs]
    metrics = {q["id"]: q for q in five_xx.inputs["metricQueries"]}
    assert metrics["errors"]["metric"]["metricName"] == "HTTPCode_Target_5XX_Count"
    assert any(a.inputs.get("metricName") == "WorkerErrors" for a in alarms)
    assert all(a.inputs["alarmActions"] for a in alarms)
    assert len(stack.of("aws:cloudwatch/dashboard:Dashboard")) == 1


def test_the_stack_exports_what_a_deployer_needs() -> None:
    import pulumi

    from tests.infra.stackmock import CONFIG, Recorder

    recorder = Recorder()
    pulumi.runtime.set_mocks(recorder, project="imagepipe", stack="test", preview=False)
    pulumi.runtime.set_all_config(CONFIG)
    exported: dict[str, object] = {}

    def program() -> pulumi.Output[dict[str, object]]:
        from imagepipe_infra.config import StackConfig
        from imagepipe_infra.stack import build

        outputs = pulumi.Output.all(**build(StackConfig.load()))
        return outputs.apply(exported.update)

    pulumi.runtime.test(program)()
    assert {
        "api_url": "https://d111111abcdef8.cloudfront.net",
        "cdn_domain": "d111111abcdef8.cloudfront.net",
        "originals_bucket": "imagepipe-test-originals",
        "variants_bucket": "imagepipe-test-variants",
        "table": "imagepipe-test-images",
        "uploads_queue": "imagepipe-test-uploads",
        "task_queue": "imagepipe-test-imagepipe",
    }.items() <= exported.items()
    # Flower's own login, which its operators need after the Cognito sign-in.
    user, password = str(exported["flower_login"]).split(":")
    assert user == "flower" and len(password) == 32


def test_with_a_hosted_zone_the_stack_makes_and_validates_its_certificates() -> None:
    from tests.infra.stackmock import CONFIG, run

    config = {k: v for k, v in CONFIG.items() if k != "imagepipe:apiCertificateArn"}
    zoned = run(
        {
            **config,
            "imagepipe:hostedZoneId": "Z123",
            "imagepipe:customDomain": "images.example.com",
        },
        replace=True,
    )
    certificates = {c.inputs["domainName"]: c for c in zoned.of("aws:acm/certificate:Certificate")}
    assert set(certificates) == {
        "images.example.com",
        "origin.images.example.com",
        "flower.origin.images.example.com",
    }
    assert "us-east-1" in certificates["images.example.com"].provider  # CloudFront's
    assert certificates["origin.images.example.com"].provider == ""  # the stack's region
    (distribution,) = zoned.of("aws:cloudfront/distribution:Distribution")
    assert distribution.inputs["aliases"] == ["images.example.com"]
    viewer = distribution.inputs["viewerCertificate"]
    assert viewer["acmCertificateArn"].endswith("certificate/images.example.com")
    assert (viewer["sslSupportMethod"], viewer["minimumProtocolVersion"]) == (
        "sni-only",
        "TLSv1.2_2021",
    )
    https = next(x for x in zoned.of("aws:lb/listener:Listener") if x.inputs["port"] == 443)
    assert https.inputs["certificateArn"].endswith("certificate/origin.images.example.com")
    (extra,) = zoned.of("aws:lb/listenerCertificate:ListenerCertificate")
    assert extra.inputs["certificateArn"].endswith("certificate/flower.origin.images.example.com")
    aliases = {
        (r.inputs["name"], r.inputs["type"]): r.inputs["aliases"][0]["name"]
        for r in zoned.of("aws:route53/record:Record")
        if "aliases" in r.inputs
    }
    assert aliases[("images.example.com", "A")] == "d111111abcdef8.cloudfront.net"
    assert aliases[("flower.origin.images.example.com", "AAAA")].endswith(".elb.amazonaws.com")
    (bucket_cors,) = zoned.of("aws:s3/bucketCorsConfiguration:BucketCorsConfiguration")
    assert bucket_cors.inputs["corsRules"][0]["allowedOrigins"][0] == "https://images.example.com"


def test_a_custom_domain_without_a_certificate_or_zone_is_refused() -> None:
    import pytest

    from tests.infra.stackmock import run

    with pytest.raises(ValueError, match="customDomain needs"):
        run({"imagepipe:customDomain": "images.example.com"})


def test_global_accelerator_fronts_the_api_only_when_asked(stack: Stack) -> None:
    from tests.infra.stackmock import run

    assert stack.of("aws:globalaccelerator/accelerator:Accelerator") == []
    accelerated = run({"imagepipe:globalAccelerator": "true"})
    accelerated.one("aws:globalaccelerator/accelerator:Accelerator")
    listener = accelerated.one("aws:globalaccelerator/listener:Listener")
    assert listener.inputs["portRanges"] == [{"fromPort": 443, "toPort": 443}]
    group = accelerated.one("aws:globalaccelerator/endpointGroup:EndpointGroup")
    (endpoint,) = group.inputs["endpointConfigurations"]
    assert endpoint["clientIpPreservationEnabled"] is True  # per-address limits see the client
