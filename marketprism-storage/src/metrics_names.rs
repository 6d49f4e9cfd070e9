//! Names of the Prometheus metrics this crate records (all `marketprism_storage_*`).

/// Events acknowledged by JetStream (publisher).
pub const PUBLISHED: &str = "marketprism_storage_published_total";
/// Published events JetStream reported as duplicates (dropped by `Nats-Msg-Id`).
pub const PUBLISH_DUPLICATES: &str = "marketprism_storage_publish_duplicates_total";
/// Publish attempts that failed and were retried.
pub const PUBLISH_RETRIES: &str = "marketprism_storage_publish_retries_total";
/// Batches the publisher gave up on (returned as errors to the caller, never dropped).
pub const PUBLISH_FAILED: &str = "marketprism_storage_publish_failed_total";
/// Messages fetched by the consumer.
pub const CONSUMED: &str = "marketprism_storage_consumed_total";
/// Messages acknowledged after every sink wrote them.
pub const ACKED: &str = "marketprism_storage_acked_total";
/// Messages sent to the dead-letter subject, by reason.
pub const DEAD_LETTERED: &str = "marketprism_storage_dead_lettered_total";
/// Failed sink writes that were retried, by sink.
pub const SINK_RETRIES: &str = "marketprism_storage_sink_retries_total";
/// Events written, by sink.
pub const SINK_WRITTEN: &str = "marketprism_storage_sink_written_total";
/// Events a sink refused permanently (dead-lettered or skipped), by sink.
pub const SINK_SKIPPED: &str = "marketprism_storage_sink_skipped_total";
/// Events given up on at shutdown (drain limit passed), by sink driver.
pub const SINK_LOST: &str = "marketprism_storage_sink_lost_total";
/// Seconds to write one batch to one sink, by sink.
pub const SINK_WRITE_SECONDS: &str = "marketprism_storage_sink_write_seconds";
/// Events per batch the consumer processed.
pub const BATCH_SIZE: &str = "marketprism_storage_batch_size";

/// Registers descriptions for every metric with the installed recorder.
pub fn describe() {
    use metrics::{describe_counter, describe_histogram};
    describe_counter!(PUBLISHED, "Events acknowledged by JetStream");
    describe_counter!(
        PUBLISH_DUPLICATES,
        "Published events JetStream deduplicated by Nats-Msg-Id"
    );
    describe_counter!(PUBLISH_RETRIES, "JetStream publish attempts retried");
    describe_counter!(
        PUBLISH_FAILED,
        "Publish batches given up on (returned to the caller)"
    );
    describe_counter!(CONSUMED, "Messages fetched from the durable consumer");
    describe_counter!(ACKED, "Messages acknowledged after all sinks wrote them");
    describe_counter!(DEAD_LETTERED, "Messages sent to the dead-letter subject");
    describe_counter!(SINK_RETRIES, "Sink writes retried, by sink");
    describe_counter!(SINK_WRITTEN, "Events durably written, by sink");
    describe_counter!(SINK_SKIPPED, "Events a sink refused permanently, by sink");
    describe_counter!(SINK_LOST, "Events given up on at shutdown");
    describe_histogram!(
        SINK_WRITE_SECONDS,
        metrics::Unit::Seconds,
        "Batch write latency by sink"
    );
    describe_histogram!(BATCH_SIZE, "Events per consumed batch");
}
