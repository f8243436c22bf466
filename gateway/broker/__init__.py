"""RabbitMQ: the topology of DESIGN.md and a confirming publisher (aio-pika)."""
