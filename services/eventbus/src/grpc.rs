//! The `groundwork.v1.EventBus` gRPC service: converts wire types to domain types at
//! once and calls [`Ingest`] and the tail.

use std::pin::Pin;

use groundwork_events::envelope::{Producer, PutEventsEntry, PutEventsResult};
use groundwork_kit::Shutdown;
use groundwork_proto::v1 as pb;
use pb::event_bus_server::EventBus;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::error::Error;
use crate::put_events::Ingest;
use crate::tail::{self, TailStart};

/// The gRPC face of the event bus.
#[derive(Debug, Clone)]
pub struct EventBusApi {
    ingest: Ingest,
    shutdown: Shutdown,
}

impl EventBusApi {
    pub fn new(ingest: Ingest, shutdown: Shutdown) -> Self {
        Self { ingest, shutdown }
    }
}

fn entry_from_pb(e: pb::PutEventsRequestEntry) -> Result<PutEventsEntry, Error> {
    let non_empty = |s: String| (!s.is_empty()).then_some(s);
    let time = e
        .time
        .map(|t| {
            time::OffsetDateTime::from_unix_timestamp(t.seconds)
                .map(|d| d + time::Duration::nanoseconds(i64::from(t.nanos)))
                .map_err(|err| Error::InvalidArgument {
                    field: "entries.time".into(),
                    reason: err.to_string(),
                })
        })
        .transpose()?;
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
                || Error::InvalidArgument {
                    field: "event_bus_name".into(),
                    reason: format!(
                        "'{}' is not a bus name or event bus ARN",
                        request.event_bus_name
                    ),
                },
            )?
        };
        if !self.ingest.buses().contains(&bus) {
            return Err(Error::NotFound(format!("Event bus {bus} does not exist.")).into());
        }
        let start = match request.start {
            None | Some(pb::tail_events_request::Start::FromBeginning(false)) => TailStart::New,
            Some(pb::tail_events_request::Start::FromBeginning(true)) => TailStart::Beginning,
            Some(pb::tail_events_request::Start::Last(n)) => TailStart::Last(n),
            Some(pb::tail_events_request::Start::Since(t)) => TailStart::Since(
                time::OffsetDateTime::from_unix_timestamp(t.seconds).map_err(|e| {
                    Error::InvalidArgument {
                        field: "since".into(),
                        reason: e.to_string(),
                    }
                })?,
            ),
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
}
