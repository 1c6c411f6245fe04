"""Workers on FARGATE_SPOT with a FARGATE base, scaled on the task queue's backlog per task."""

from __future__ import annotations

import json

from tests.infra.stackmock import Stack, run

SERVICE = "aws:ecs/service:Service"


def test_spot_is_the_default_capacity_provider_over_a_small_fargate_base(stack: Stack) -> None:
    (capacity,) = stack.of("aws:ecs/clusterCapacityProviders:ClusterCapacityProviders")
    strategy = {
        s["capacityProvider"]: s for s in capacity.inputs["defaultCapacityProviderStrategies"]
    }
    assert strategy["FARGATE_SPOT"]["weight"] == 1
    assert strategy["FARGATE"] == {"capacityProvider": "FARGATE", "base": 1, "weight": 0}
    worker = stack.one(SERVICE, "-worker")
    assert (
        worker.inputs["capacityProviderStrategies"]
        == capacity.inputs["defaultCapacityProviderStrategies"]
    )
    assert capacity.name in worker.depends_on


def test_the_worker_scales_on_visible_messages_per_running_task(stack: Stack) -> None:
    target = stack.one("aws:appautoscaling/target:Target", "-worker")
    assert target.inputs["resourceId"] == "service/imagepipe-test/imagepipe-test-worker"
    assert (target.inputs["minCapacity"], target.inputs["maxCapacity"]) == (1, 20)
    policy = stack.one("aws:appautoscaling/policy:Policy", "backlog-per-task")
    config = policy.inputs["targetTrackingScalingPolicyConfiguration"]
    assert config["targetValue"] == 20
    metrics = {m["id"]: m for m in config["customizedMetricSpecification"]["metrics"]}
    visible = metrics["visible"]["metricStat"]["metric"]
    assert (visible["namespace"], visible["metricName"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
    )
    assert visible["dimensions"] == [{"name": "QueueName", "value": "imagepipe-test-imagepipe"}]
    running = metrics["running"]["metricStat"]["metric"]
    assert running["metricName"] == "RunningTaskCount"
    assert {d["name"]: d["value"] for d in running["dimensions"]} == {
        "ClusterName": "imagepipe-test",
        "ServiceName": "imagepipe-test-worker",
    }
    (returned,) = [m for m in metrics.values() if m.get("returnData")]
    assert returned["expression"].startswith("visible / ")


def test_scaling_bounds_and_base_come_from_config() -> None:
    configured = run(
        {
            "imagepipe:workerMinTasks": "0",
            "imagepipe:workerMaxTasks": "50",
            "imagepipe:fargateBase": "2",
        }
    )
    target = configured.one("aws:appautoscaling/target:Target", "-worker")
    assert (target.inputs["minCapacity"], target.inputs["maxCapacity"]) == (0, 50)
    (capacity,) = configured.of("aws:ecs/clusterCapacityProviders:ClusterCapacityProviders")
    bases = {
        s["capacityProvider"]: s["base"]
        for s in capacity.inputs["defaultCapacityProviderStrategies"]
    }
    assert bases == {"FARGATE": 2, "FARGATE_SPOT": 0}


def _container(stack: Stack, process: str) -> dict[str, object]:
    task = stack.one("aws:ecs/taskDefinition:TaskDefinition", f"-{process}")
    (container,) = json.loads(task.inputs["containerDefinitions"])
    return container


def test_every_process_runs_from_one_image_with_its_own_log_group(stack: Stack) -> None:
    processes = ("web", "worker", "ingest", "beat", "flower")
    containers = {p: _container(stack, p) for p in processes}
    assert {c["image"] for c in containers.values()} == {
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/imagepipe-test:latest"
    }
    assert {p: c["command"] for p, c in containers.items()} == {p: [p] for p in processes}
    groups = {c["logConfiguration"]["options"]["awslogs-group"] for c in containers.values()}
    assert len(groups) == len(processes)
    # Spot warns two minutes ahead: the worker's warm shutdown gets all of Fargate's 120 s.
    assert containers["worker"]["stopTimeout"] == 120


def test_tasks_get_the_urls_and_their_secrets_from_secrets_manager(stack: Stack) -> None:
    container = _container(stack, "worker")
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env["IMAGEPIPE_ORIGINALS_URL"] == "s3://imagepipe-test-originals"
    assert env["IMAGEPIPE_VARIANTS_URL"] == "s3://imagepipe-test-variants"
    assert env["IMAGEPIPE_CATALOG_URL"] == "dynamodb://imagepipe-test-images"
    assert env["CELERY_BROKER_URL"] == "sqs://"
    assert env["IMAGEPIPE_TASK_QUEUE"] == "imagepipe-test-imagepipe"
    assert env["IMAGEPIPE_SQS_MAX_RECEIVES"] == "7"
    # Celery's task events cost ~40 SNS and SQS requests an image: off unless the stack asks.
    assert env["IMAGEPIPE_TASK_EVENTS"] == "false"
    assert "not-a-real-secret" not in json.dumps(container)
    assert [s["name"] for s in container["secrets"]] == [
        "FLOWER_BASIC_AUTH",
        "IMAGEPIPE_CDN_ORIGIN_SECRET",
        "IMAGEPIPE_RENDER_ORIGIN_SECRET",
        "IMAGEPIPE_SECRET_KEY",
    ]
    # Tokens are the stack's Cognito pool's: the API verifies them against its JWKS.
    assert env["IMAGEPIPE_COGNITO_REGION"] == "eu-west-1"
    assert env["IMAGEPIPE_COGNITO_USER_POOL_ID"]
    assert env["IMAGEPIPE_COGNITO_CLIENT_ID"]


def test_ecs_replaces_a_worker_whose_heartbeat_stops(stack: Stack) -> None:
    check = _container(stack, "worker")["healthCheck"]
    assert check["command"] == ["CMD", "imagepipe", "worker-health", "--max-age", "30"]
    assert "healthCheck" not in _container(stack, "ingest")


def test_the_page_signs_in_as_a_public_client_the_api_trusts(stack: Stack) -> None:
    web = stack.one("aws:cognito/userPoolClient:UserPoolClient", "-web")
    assert web.inputs.get("generateSecret") is False  # a page cannot keep a secret
    assert web.inputs["allowedOauthFlows"] == ["code"]
    assert web.inputs["callbackUrls"] == web.inputs["logoutUrls"]
    assert web.inputs["callbackUrls"][-1] == "https://app.example.com/"  # webOrigins
    env = {e["name"]: e["value"] for e in _container(stack, "web")["environment"]}
    assert env["IMAGEPIPE_COGNITO_CLIENT_ID"] == f"{web.name}-id"
    assert env["IMAGEPIPE_COGNITO_HOSTED_UI_URL"] == (
        "https://imagepipe-test.auth.eu-west-1.amazoncognito.com"
    )
