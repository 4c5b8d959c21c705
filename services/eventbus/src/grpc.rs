//! The `groundwork.v1.EventBus` gRPC service: converts wire types to domain types at
//! once (see [`crate::wire`]) and calls PutEvents, the tail, buses, rules, targets,
//! archives, replays and the DLQ.

use std::pin::Pin;

use groundwork_events::envelope::{Producer, PutEventsEntry, PutEventsResult};
use groundwork_kit::Shutdown;
use groundwork_proto::v1 as pb;
use pb::event_bus_server::EventBus;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::archive::{ArchiveUpdate, Archives};
use crate::arn::bus_from_request;
use crate::buses::{Buses, page};
use crate::error::{Error, invalid_pattern, validation};
use crate::put_events::Ingest;
use crate::replay::{Replays, StartReplay};
use crate::rules::{RuleState, Rules};
use crate::tags::{self, Tags};
use crate::tail::{self, TailStart};
use crate::wire;

/// The gRPC face of the event bus.
#[derive(Debug, Clone)]
pub struct EventBusApi {
    pub ingest: Ingest,
    pub shutdown: Shutdown,
    pub buses: Buses,
    pub rules: Rules,
    pub archives: Archives,
    pub replays: Replays,
    pub js: async_nats::jetstream::Context,
}

fn entry_from_pb(e: pb::PutEventsRequestEntry) -> Result<PutEventsEntry, Error> {
    let non_empty = |s: String| (!s.is_empty()).then_some(s);
    let time = e.time.map(|t| wire::datetime("Time", &t)).transpose()?;
    Ok(PutEventsEntry {
        time,
        source: non_empty(e.source),
        resources: e.resources,
        detail_type: non_empty(e.detail_type),
        detail: non_empty(e.detail),
        event_bus_name: non_empty(e.event_bus_name),
        trace_header: non_empty(e.trace_header),
    })
}

fn result_to_pb(result: PutEventsResult) -> pb::PutEventsResponse {
    pb::PutEventsResponse {
        failed_entry_count: i32::try_from(result.failed_entry_count).unwrap_or(i32::MAX),
        entries: result
            .entries
            .into_iter()
            .map(|e| pb::PutEventsResultEntry {
                event_id: e.event_id.unwrap_or_default(),
                error_code: e.error_code.unwrap_or_default(),
                error_message: e.error_message.unwrap_or_default(),
            })
            .collect(),
    }
}

type TailStream = Pin<Box<dyn Stream<Item = Result<pb::TailEventsResponse, Status>> + Send>>;

#[tonic::async_trait]
impl EventBus for EventBusApi {
    #[tracing::instrument(skip_all, fields(entries = request.get_ref().entries.len()))]
    async fn put_events(
        &self,
        request: Request<pb::PutEventsRequest>,
    ) -> Result<Response<pb::PutEventsResponse>, Status> {
        let entries = request
            .into_inner()
            .entries
            .into_iter()
            .map(entry_from_pb)
            .collect::<Result<Vec<_>, _>>()?;
        let result = self
            .ingest
            .put_events(&entries, Producer::External, None)
            .await?;
        Ok(Response::new(result_to_pb(result)))
    }

    type TailEventsStream = TailStream;

    #[tracing::instrument(skip_all, fields(bus = %request.get_ref().event_bus_name))]
    async fn tail_events(
        &self,
        request: Request<pb::TailEventsRequest>,
    ) -> Result<Response<Self::TailEventsStream>, Status> {
        let request = request.into_inner();
        let bus = if request.event_bus_name.is_empty() {
            groundwork_events::envelope::DEFAULT_BUS.to_owned()
        } else {
            groundwork_events::envelope::bus_name_from(&request.event_bus_name).ok_or_else(
                || {
                    Error::invalid(
                        "event_bus_name",
                        format!(
                            "'{}' is not a bus name or event bus ARN",
                            request.event_bus_name
                        ),
                    )
                },
            )?
        };
        if !self.rules.catalog().knows_bus(&bus).await? {
            return Err(Error::not_found(format!("Event bus {bus} does not exist.")).into());
        }
        let start = match request.start {
            None | Some(pb::tail_events_request::Start::FromBeginning(false)) => TailStart::New,
            Some(pb::tail_events_request::Start::FromBeginning(true)) => TailStart::Beginning,
            Some(pb::tail_events_request::Start::Last(n)) => TailStart::Last(n),
            Some(pb::tail_events_request::Start::Since(t)) => {
                TailStart::Since(wire::datetime("since", &t)?)
            }
        };
        groundwork_bus::connect::ensure_connected(self.ingest.publisher().client())
            .map_err(Error::from)?;
        let rx = tail::start(
            self.ingest.publisher().jetstream(),
            &bus,
            start,
            self.shutdown.clone(),
        )
        .await?;
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn create_event_bus(
        &self,
        request: Request<pb::CreateEventBusRequest>,
    ) -> Result<Response<pb::CreateEventBusResponse>, Status> {
        let r = request.into_inner();
        let bus = self
            .buses
            .create(&r.name, &r.description, Tags::from_pb(r.tags))
            .await?;
        Ok(Response::new(pb::CreateEventBusResponse {
            event_bus_arn: self.rules.arns().bus(&bus.name),
        }))
    }

    async fn describe_event_bus(
        &self,
        request: Request<pb::DescribeEventBusRequest>,
    ) -> Result<Response<pb::EventBusInfo>, Status> {
        let name = bus_from_request("name", &request.into_inner().name)?;
        let bus = self.buses.describe(&name).await?;
        Ok(Response::new(wire::bus_to_pb(&bus, self.rules.arns())))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn delete_event_bus(
        &self,
        request: Request<pb::DeleteEventBusRequest>,
    ) -> Result<Response<pb::DeleteEventBusResponse>, Status> {
        let name = bus_from_request("name", &request.into_inner().name)?;
        self.buses.delete(&name).await?;
        Ok(Response::new(pb::DeleteEventBusResponse {}))
    }

    async fn list_event_buses(
        &self,
        request: Request<pb::ListEventBusesRequest>,
    ) -> Result<Response<pb::ListEventBusesResponse>, Status> {
        let r = request.into_inner();
        let (buses, next) = page(
            self.buses.list(&r.name_prefix).await?,
            |b| b.name.as_str(),
            &r.next_token,
            r.limit,
        )?;
        Ok(Response::new(pb::ListEventBusesResponse {
            event_buses: buses
                .iter()
                .map(|b| wire::bus_to_pb(b, self.rules.arns()))
                .collect(),
            next_token: next.unwrap_or_default(),
        }))
    }

    #[tracing::instrument(skip_all, fields(rule = %request.get_ref().name, bus = %request.get_ref().event_bus_name))]
    async fn put_rule(
        &self,
        request: Request<pb::PutRuleRequest>,
    ) -> Result<Response<pb::PutRuleResponse>, Status> {
        let r = request.into_inner();
        let bus = bus_from_request("event_bus_name", &r.event_bus_name)?;
        let state = RuleState::parse(&r.state)?;
        let rule_arn = self
            .rules
            .put_rule(
                &bus,
                &r.name,
                &r.event_pattern,
                state,
                &r.description,
                &Tags::from_pb(r.tags),
            )
            .await?;
        Ok(Response::new(pb::PutRuleResponse { rule_arn }))
    }

    #[tracing::instrument(skip_all, fields(rule = %request.get_ref().name))]
    async fn delete_rule(
        &self,
        request: Request<pb::DeleteRuleRequest>,
    ) -> Result<Response<pb::DeleteRuleResponse>, Status> {
        let r = request.into_inner();
        let bus = bus_from_request("event_bus_name", &r.event_bus_name)?;
        self.rules.delete_rule(&bus, &r.name, r.force).await?;
        Ok(Response::new(pb::DeleteRuleResponse {}))
    }

    async fn describe_rule(
        &self,
        request: Request<pb::DescribeRuleRequest>,
    ) -> Result<Response<pb::Rule>, Status> {
        let r = request.into_inner();
        let bus = bus_from_request("event_bus_name", &r.event_bus_name)?;
        let rule = self.rules.describe_rule(&bus, &r.name).await?;
        Ok(Response::new(wire::rule_to_pb(&rule)))
    }

    async fn list_rules(
        &self,
        request: Request<pb::ListRulesRequest>,
    ) -> Result<Response<pb::ListRulesResponse>, Status> {
        let r = request.into_inner();
        let bus = bus_from_request("event_bus_name", &r.event_bus_name)?;
        let (rules, next) = self
            .rules
            .list_rules(&bus, &r.name_prefix, &r.next_token, r.limit)
            .await?;
        Ok(Response::new(pb::ListRulesResponse {
            rules: rules.iter().map(|r| wire::rule_to_pb(r)).collect(),
            next_token: next.unwrap_or_default(),
        }))
    }

    async fn enable_rule(
        &self,
        request: Request<pb::EnableRuleRequest>,
    ) -> Result<Response<pb::EnableRuleResponse>, Status> {
        let r = request.into_inner();
        let bus = bus_from_request("event_bus_name", &r.event_bus_name)?;
        self.rules
            .set_state(&bus, &r.name, RuleState::Enabled)
            .await?;
        Ok(Response::new(pb::EnableRuleResponse {}))
    }

    async fn disable_rule(
        &self,
        request: Request<pb::DisableRuleRequest>,
    ) -> Result<Response<pb::DisableRuleResponse>, Status> {
        let r = request.into_inner();
        let bus = bus_from_request("event_bus_name", &r.event_bus_name)?;
        self.rules
            .set_state(&bus, &r.name, RuleState::Disabled)
            .await?;
        Ok(Response::new(pb::DisableRuleResponse {}))
    }

    async fn list_rule_names_by_target(
        &self,
        request: Request<pb::ListRuleNamesByTargetRequest>,
    ) -> Result<Response<pb::ListRuleNamesByTargetResponse>, Status> {
        let r = request.into_inner();
        let bus = bus_from_request("event_bus_name", &r.event_bus_name)?;
        let (rule_names, next) = self
            .rules
            .rule_names_by_target(&bus, &r.target_arn, &r.next_token, r.limit)
            .await?;
        Ok(Response::new(pb::ListRuleNamesByTargetResponse {
            rule_names,
            next_token: next.unwrap_or_default(),
        }))
    }

    #[tracing::instrument(skip_all, fields(rule = %request.get_ref().rule, targets = request.get_ref().targets.len()))]
    async fn put_targets(
        &self,
        request: Request<pb::PutTargetsRequest>,
    ) -> Result<Response<pb::PutTargetsResponse>, Status> {
        let r = request.into_inner();
        let bus = bus_from_request("event_bus_name", &r.event_bus_name)?;
        let targets = r
            .targets
            .into_iter()
            .enumerate()
            .map(|(i, t)| wire::target_from_pb(i, t))
            .collect::<Result<Vec<_>, _>>()?;
        let failed = crate::targets::put_targets(&self.rules, &bus, &r.rule, targets).await?;
        let (failed_entry_count, failed_entries) = wire::failed_to_pb(failed);
        Ok(Response::new(pb::PutTargetsResponse {
            failed_entry_count,
            failed_entries,
        }))
    }

    async fn remove_targets(
        &self,
        request: Request<pb::RemoveTargetsRequest>,
    ) -> Result<Response<pb::RemoveTargetsResponse>, Status> {
        let r = request.into_inner();
        let bus = bus_from_request("event_bus_name", &r.event_bus_name)?;
        let failed = crate::targets::remove_targets(&self.rules, &bus, &r.rule, &r.ids).await?;
        let (failed_entry_count, failed_entries) = wire::failed_to_pb(failed);
        Ok(Response::new(pb::RemoveTargetsResponse {
            failed_entry_count,
            failed_entries,
        }))
    }

    async fn list_targets_by_rule(
        &self,
        request: Request<pb::ListTargetsByRuleRequest>,
    ) -> Result<Response<pb::ListTargetsByRuleResponse>, Status> {
        // A webhook URL is a credential: only the operator, who may change the rule, sees
        // it whole; a read-only caller sees scheme, host and port.
        let read_only = request
            .extensions()
            .get::<groundwork_kit::auth::Caller>()
            .is_some_and(|c| c.role == groundwork_kit::auth::Role::ReadOnly);
        let r = request.into_inner();
        let bus = bus_from_request("event_bus_name", &r.event_bus_name)?;
        let (targets, next) =
            crate::targets::list_targets(&self.rules, &bus, &r.rule, &r.next_token, r.limit)
                .await?;
        Ok(Response::new(pb::ListTargetsByRuleResponse {
            targets: targets
                .iter()
                .map(|t| {
                    let mut shown = wire::target_to_pb(t);
                    if read_only {
                        shown.arn = groundwork_events::redact::redact_target_arn(&shown.arn);
                    }
                    shown
                })
                .collect(),
            next_token: next.unwrap_or_default(),
        }))
    }

    async fn test_event_pattern(
        &self,
        request: Request<pb::TestEventPatternRequest>,
    ) -> Result<Response<pb::TestEventPatternResponse>, Status> {
        use groundwork_events::pattern::{EventError, MatchError};
        let r = request.into_inner();
        let result = groundwork_events::pattern::matches(&r.event_pattern, &r.event).map_err(
            |e| match e {
                MatchError::Pattern(p) => invalid_pattern(p),
                MatchError::Event(EventError::InvalidJson(_) | EventError::NotAnObject) => {
                    validation("Parameter Event is not valid.")
                }
            },
        )?;
        Ok(Response::new(pb::TestEventPatternResponse { result }))
    }

    #[tracing::instrument(skip_all, fields(archive = %request.get_ref().archive_name))]
    async fn create_archive(
        &self,
        request: Request<pb::CreateArchiveRequest>,
    ) -> Result<Response<pb::Archive>, Status> {
        let r = request.into_inner();
        let archive = self
            .archives
            .create(
                &r.archive_name,
                &r.event_source_arn,
                &r.event_pattern,
                r.retention_days,
                &r.description,
            )
            .await?;
        Ok(Response::new(wire::archive_to_pb(&archive)))
    }

    async fn describe_archive(
        &self,
        request: Request<pb::DescribeArchiveRequest>,
    ) -> Result<Response<pb::Archive>, Status> {
        let archive = self
            .archives
            .get(&request.into_inner().archive_name)
            .await?;
        Ok(Response::new(wire::archive_to_pb(&archive)))
    }

    #[tracing::instrument(skip_all, fields(archive = %request.get_ref().archive_name))]
    async fn update_archive(
        &self,
        request: Request<pb::UpdateArchiveRequest>,
    ) -> Result<Response<pb::Archive>, Status> {
        let r = request.into_inner();
        let archive = self
            .archives
            .update(
                &r.archive_name,
                ArchiveUpdate {
                    description: r.description,
                    event_pattern: r.event_pattern,
                    retention_days: r.retention_days,
                },
            )
            .await?;
        Ok(Response::new(wire::archive_to_pb(&archive)))
    }

    async fn delete_archive(
        &self,
        request: Request<pb::DeleteArchiveRequest>,
    ) -> Result<Response<pb::DeleteArchiveResponse>, Status> {
        self.archives
            .delete(&request.into_inner().archive_name)
            .await?;
        Ok(Response::new(pb::DeleteArchiveResponse {}))
    }

    async fn list_archives(
        &self,
        request: Request<pb::ListArchivesRequest>,
    ) -> Result<Response<pb::ListArchivesResponse>, Status> {
        let r = request.into_inner();
        let state = wire::archive_state_filter(&r.state)?;
        let archives = self
            .archives
            .list(&r.name_prefix, &r.event_source_arn)
            .await?
            .into_iter()
            .filter(|_| state.is_none_or(|s| s == wire::ARCHIVE_STATE))
            .collect();
        let (archives, next) = page(archives, |a| a.name.as_str(), &r.next_token, r.limit)?;
        Ok(Response::new(pb::ListArchivesResponse {
            archives: archives.iter().map(wire::archive_to_pb).collect(),
            next_token: next.unwrap_or_default(),
        }))
    }

    #[tracing::instrument(skip_all, fields(replay = %request.get_ref().replay_name))]
    async fn start_replay(
        &self,
        request: Request<pb::StartReplayRequest>,
    ) -> Result<Response<pb::Replay>, Status> {
        let r = request.into_inner();
        let destination = r.destination.unwrap_or_default();
        let replay = self
            .replays
            .start(StartReplay {
                name: r.replay_name,
                description: r.description,
                event_source_arn: r.event_source_arn,
                event_start_ms: wire::ms_from("EventStartTime", r.event_start_time)?,
                event_end_ms: wire::ms_from("EventEndTime", r.event_end_time)?,
                destination_arn: destination.arn,
                filter_arns: destination.filter_arns,
            })
            .await?;
        Ok(Response::new(wire::replay_to_pb(&replay)))
    }

    async fn describe_replay(
        &self,
        request: Request<pb::DescribeReplayRequest>,
    ) -> Result<Response<pb::Replay>, Status> {
        let replay = self
            .replays
            .describe(&request.into_inner().replay_name)
            .await?;
        Ok(Response::new(wire::replay_to_pb(&replay)))
    }

    async fn list_replays(
        &self,
        request: Request<pb::ListReplaysRequest>,
    ) -> Result<Response<pb::ListReplaysResponse>, Status> {
        let r = request.into_inner();
        wire::replay_state_filter(&r.state)?;
        let replays = self
            .replays
            .list(&r.name_prefix, &r.state, &r.event_source_arn)
            .await?;
        let (replays, next) = page(replays, |r| r.name.as_str(), &r.next_token, r.limit)?;
        Ok(Response::new(pb::ListReplaysResponse {
            replays: replays.iter().map(wire::replay_to_pb).collect(),
            next_token: next.unwrap_or_default(),
        }))
    }

    #[tracing::instrument(skip_all, fields(resource = %request.get_ref().resource_arn))]
    async fn tag_resource(
        &self,
        request: Request<pb::TagResourceRequest>,
    ) -> Result<Response<pb::TagResourceResponse>, Status> {
        let r = request.into_inner();
        tags::tag(
            self.rules.catalog(),
            self.rules.arns(),
            &r.resource_arn,
            &Tags::from_pb(r.tags),
        )
        .await?;
        Ok(Response::new(pb::TagResourceResponse {}))
    }

    #[tracing::instrument(skip_all, fields(resource = %request.get_ref().resource_arn))]
    async fn untag_resource(
        &self,
        request: Request<pb::UntagResourceRequest>,
    ) -> Result<Response<pb::UntagResourceResponse>, Status> {
        let r = request.into_inner();
        tags::untag(
            self.rules.catalog(),
            self.rules.arns(),
            &r.resource_arn,
            &r.tag_keys,
        )
        .await?;
        Ok(Response::new(pb::UntagResourceResponse {}))
    }

    async fn list_tags_for_resource(
        &self,
        request: Request<pb::ListTagsForResourceRequest>,
    ) -> Result<Response<pb::ListTagsForResourceResponse>, Status> {
        let r = request.into_inner();
        let tags = tags::list(self.rules.catalog(), self.rules.arns(), &r.resource_arn).await?;
        Ok(Response::new(pb::ListTagsForResourceResponse {
            tags: tags.to_pb(),
        }))
    }

    async fn cancel_replay(
        &self,
        request: Request<pb::CancelReplayRequest>,
    ) -> Result<Response<pb::Replay>, Status> {
        let replay = self
            .replays
            .cancel(&request.into_inner().replay_name)
            .await?;
        Ok(Response::new(wire::replay_to_pb(&replay)))
    }

    async fn list_dead_letters(
        &self,
        request: Request<pb::ListDeadLettersRequest>,
    ) -> Result<Response<pb::ListDeadLettersResponse>, Status> {
        let r = request.into_inner();
        let bus = bus_from_request("event_bus_name", &r.event_bus_name)?;
        if !self.rules.catalog().knows_bus(&bus).await? {
            return Err(Error::not_found(format!("Event bus {bus} does not exist.")).into());
        }
        let limit = if r.limit == 0 { 100 } else { r.limit as usize };
        let letters = crate::dlq::list(&self.js, &bus, limit).await?;
        Ok(Response::new(pb::ListDeadLettersResponse {
            dead_letters: letters.iter().map(wire::dead_letter_to_pb).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(bus = %request.get_ref().event_bus_name, count = request.get_ref().count))]
    async fn redrive_dead_letters(
        &self,
        request: Request<pb::RedriveDeadLettersRequest>,
    ) -> Result<Response<pb::RedriveDeadLettersResponse>, Status> {
        let r = request.into_inner();
        let bus = bus_from_request("event_bus_name", &r.event_bus_name)?;
        if !self.rules.catalog().knows_bus(&bus).await? {
            return Err(Error::not_found(format!("Event bus {bus} does not exist.")).into());
        }
        let redriven =
            crate::dlq::redrive(&self.js, self.rules.catalog(), &bus, r.count as usize).await?;
        Ok(Response::new(pb::RedriveDeadLettersResponse { redriven }))
    }
}
