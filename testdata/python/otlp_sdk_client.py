"""An independent OTLP client: the OpenTelemetry Python SDK pushing spans, a counter and log
records to ferrocol. Usage: otlp_sdk_client.py grpc|http <endpoint> <service.name>
(endpoint: host:port for grpc, http://host:port for http). Exits non-zero if any export
reported failure."""
import logging
import sys

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

proto, endpoint, service = sys.argv[1], sys.argv[2], sys.argv[3]
if proto == "grpc":
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    kw = dict(endpoint=endpoint, insecure=True)
    span_exp, metric_exp, log_exp = OTLPSpanExporter(**kw), OTLPMetricExporter(**kw), OTLPLogExporter(**kw)
else:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    span_exp = OTLPSpanExporter(endpoint=endpoint + "/v1/traces")
    metric_exp = OTLPMetricExporter(endpoint=endpoint + "/v1/metrics")
    log_exp = OTLPLogExporter(endpoint=endpoint + "/v1/logs")

failures = []


class Checked:
    """Wraps an exporter to record failed export results."""

    def __init__(self, inner, name):
        self.inner, self.name = inner, name

    def __getattr__(self, attr):
        return getattr(self.inner, attr)

    def export(self, *a, **k):
        r = self.inner.export(*a, **k)
        if getattr(r, "name", "SUCCESS") != "SUCCESS":
            failures.append(self.name)
        return r


resource = Resource.create({"service.name": service})
tp = TracerProvider(resource=resource)
tp.add_span_processor(SimpleSpanProcessor(Checked(span_exp, "spans")))
tracer = tp.get_tracer("ferrocol-test")
for i in range(5):
    with tracer.start_as_current_span(f"py-span-{i}"):
        pass
tp.shutdown()

reader = PeriodicExportingMetricReader(metric_exp, export_interval_millis=60_000)
mp = MeterProvider(resource=resource, metric_readers=[reader])
counter = mp.get_meter("ferrocol-test").create_counter("py.counter")
counter.add(7, {"k": "v"})
ok = mp.force_flush(timeout_millis=10_000)
mp.shutdown()
if not ok:
    failures.append("metrics")

lp = LoggerProvider(resource=resource)
lp.add_log_record_processor(SimpleLogRecordProcessor(Checked(log_exp, "logs")))
log = logging.getLogger("ferrocol-test")
log.propagate = False
log.addHandler(LoggingHandler(logger_provider=lp))
log.setLevel(logging.INFO)
for i in range(3):
    log.info("py-log-%d", i)
lp.shutdown()

if failures:
    print("export failures:", failures, file=sys.stderr)
    sys.exit(1)
