"""EventBridge's HTTP API of the event bus through boto3, as a Python producer uses it:
paginators, tags and EventBridge's typed exceptions. Run by eventbridge_boto3.rs, which
starts the bus and passes its URL, CA and token in the environment; any failed check
raises and the process exits non-zero."""

import json
import os

import boto3
import botocore.exceptions

events = boto3.client(
    "events",
    endpoint_url=os.environ["GROUNDWORK_EVENTS_URL"],
    verify=os.environ["GROUNDWORK_CA_FILE"],
    region_name="us-east-1",
    aws_access_key_id="operator",
    aws_secret_access_key=os.environ["GROUNDWORK_API_TOKEN"],
)
PATTERN = json.dumps({"source": ["com.example.orders"]})
checked = []


def check(what, condition, detail=""):
    if not condition:
        raise AssertionError(f"{what}: {detail}")
    checked.append(what)


def raises(exception, call, **kwargs):
    """Calls and returns the exception, which must be of the class given."""
    try:
        call(**kwargs)
    except exception as e:
        return e
    raise AssertionError(f"{call.__name__} did not raise {exception.__name__}")


# Pagination: every paginator botocore has for EventBridge, pages of a chosen size.
names = [f"rule-{i:02d}" for i in range(23)]
for name in names:
    events.put_rule(Name=name, EventPattern=PATTERN)
pages = list(
    events.get_paginator("list_rules").paginate(
        NamePrefix="rule-", PaginationConfig={"PageSize": 10}
    )
)
check("list_rules pages of 10", [len(p["Rules"]) for p in pages] == [10, 10, 3],
      [len(p["Rules"]) for p in pages])
check("list_rules every rule once, in order",
      [r["Name"] for p in pages for r in p["Rules"]] == names)
targets = [{"Id": f"t{i}", "Arn": "nats:orders.audit"} for i in range(5)]
events.put_targets(Rule="rule-00", Targets=targets)
pages = list(
    events.get_paginator("list_targets_by_rule").paginate(
        Rule="rule-00", PaginationConfig={"PageSize": 2}
    )
)
check("list_targets_by_rule pages of 2", [len(p["Targets"]) for p in pages] == [2, 2, 1])
for name in names[1:4]:
    events.put_targets(Rule=name, Targets=[{"Id": "audit", "Arn": "nats:orders.audit"}])
found = [
    n
    for p in events.get_paginator("list_rule_names_by_target").paginate(
        TargetArn="nats:orders.audit", PaginationConfig={"PageSize": 3}
    )
    for n in p["RuleNames"]
]
check("list_rule_names_by_target", found == names[:4], found)
first = events.list_event_buses(Limit=1)
check("list_event_buses NextToken", first["EventBuses"][0]["Name"] == "default"
      and "NextToken" not in first)
bad_limit = raises(botocore.exceptions.ParamValidationError, events.list_rules, Limit=0)

# Tags of a bus and a rule.
bus_arn = events.create_event_bus(
    Name="orders", Tags=[{"Key": "team", "Value": "shop"}]
)["EventBusArn"]
rule_arn = events.put_rule(
    Name="tagged", EventPattern=PATTERN, Tags=[{"Key": "env", "Value": "test"}]
)["RuleArn"]
events.tag_resource(ResourceARN=rule_arn, Tags=[{"Key": "owner", "Value": "ops"},
                                                {"Key": "env", "Value": "prod"}])
tags = events.list_tags_for_resource(ResourceARN=rule_arn)["Tags"]
check("tags merged, a key's new value kept",
      sorted((t["Key"], t["Value"]) for t in tags) == [("env", "prod"), ("owner", "ops")], tags)
events.untag_resource(ResourceARN=rule_arn, TagKeys=["env"])
tags = events.list_tags_for_resource(ResourceARN=rule_arn)["Tags"]
check("untag", tags == [{"Key": "owner", "Value": "ops"}], tags)
tags = events.list_tags_for_resource(ResourceARN=bus_arn)["Tags"]
check("bus tags", tags == [{"Key": "team", "Value": "shop"}], tags)

# EventBridge's exceptions as boto3's classes, with AWS's messages.
e = raises(events.exceptions.ResourceNotFoundException, events.describe_rule, Name="missing")
check("ResourceNotFoundException message",
      e.response["Error"]["Message"] == "Rule missing does not exist on EventBus default.")
raises(events.exceptions.ResourceNotFoundException, events.list_tags_for_resource,
       ResourceARN=rule_arn.replace("tagged", "gone"))
raises(events.exceptions.ResourceAlreadyExistsException, events.create_event_bus, Name="orders")
e = raises(events.exceptions.InvalidEventPatternException, events.test_event_pattern,
           EventPattern='{"source": "x"}', Event="{}")
check("InvalidEventPatternException message",
      e.response["Error"]["Message"].startswith("Event pattern is not valid."))
raises(events.exceptions.InvalidEventPatternException, events.put_rule,
       Name="bad", EventPattern='{"detail": {"n": [{"numeric": [">"]}]}}')
e = raises(events.exceptions.LimitExceededException, events.put_targets, Rule="rule-00",
           Targets=[{"Id": "sixth", "Arn": "nats:orders.more"}])
e = raises(botocore.exceptions.ClientError, events.delete_rule, Name="rule-00")
check("ValidationException", e.response["Error"]["Code"] == "ValidationException"
      and e.response["ResponseMetadata"]["HTTPStatusCode"] == 400, e.response)
e = raises(botocore.exceptions.ClientError, events.list_api_destinations)
check("UnknownOperationException",
      e.response["Error"]["Code"] == "UnknownOperationException", e.response)
reader = boto3.client(
    "events",
    endpoint_url=os.environ["GROUNDWORK_EVENTS_URL"],
    verify=os.environ["GROUNDWORK_CA_FILE"],
    region_name="us-east-1",
    aws_access_key_id="read-only",
    aws_secret_access_key=os.environ["GROUNDWORK_READ_ONLY_TOKEN"],
)
check("read-only lists", len(reader.list_rules(Limit=5)["Rules"]) == 5)
e = raises(botocore.exceptions.ClientError, reader.delete_event_bus, Name="orders")
check("AccessDeniedException", e.response["Error"]["Code"] == "AccessDeniedException")

print(f"boto3: {len(checked)} checks passed")
