#!/usr/bin/env python3
"""Why the tests never make the test broker lose a topic under a consumer: a consumer that
fetches a topic the broker no longer has (deleted, or lost by a restart of the memory-storage
test broker) crashes librdkafka >= 2.5 (SIGSEGV in rd_kafka_metadata_update_op).

tansu 0.6 answers a fetch for an unknown topic with a zero topic id and a KIP-951 "current
leader" hint; librdkafka >= 2.5 turns the hint into a metadata update for a topic with no
name and compares that NULL name against its cache. Real Kafka keeps its topics and sends no
such hint, so production is not exposed; the tests take the broker away behind a proxy
instead of restarting it (simulator::proxy). Run by check.sh with confluent-kafka (which bundles librdkafka) of a given version.

Exit 0: the consumer survived; a signal (SIGSEGV, 139 in a shell) is the crash.
"""
import sys
import time
import uuid

import confluent_kafka
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

bootstrap = sys.argv[1]
print(f"librdkafka {confluent_kafka.libversion()[0]}", flush=True)
topic = f"pin-{uuid.uuid4().hex[:8]}"
admin = AdminClient({"bootstrap.servers": bootstrap})
admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])[topic].result(15)
producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": "true"})
for i in range(200):
    producer.produce(topic, key=str(i).encode(), value=b"job")
assert producer.flush(30) == 0, "not every message was delivered"
consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": topic, "auto.offset.reset": "earliest",
                     "enable.auto.commit": "false"})
consumer.subscribe([topic])
seen, deadline = 0, time.time() + 60
while seen < 200 and time.time() < deadline:
    m = consumer.poll(0.5)
    if m is not None and not m.error():
        seen += 1
assert seen == 200, f"consumed {seen} of 200"
consumer.commit(asynchronous=False)
print("consumed 200; deleting the topic while the consumer is subscribed", flush=True)
admin.delete_topics([topic])[topic].result(15)
end = time.time() + 10
while time.time() < end:
    consumer.poll(0.5)
consumer.close()
print("the consumer survived 10 s of fetching after the delete", flush=True)
