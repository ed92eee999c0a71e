// Writes NDJSON as a real app's logger does: node loggers.cjs pino|bunyan|winston > lines.ndjson
// Used by tests/ingestion/test_json_loggers_js.py; every logger gets the same three events.
"use strict";

const which = process.argv[2];

function pinoLines() {
  const pino = require("pino");
  const logger = pino({ level: "trace" }, pino.destination({ dest: 1, sync: true }));
  logger.warn({ orderId: 42, customer: { tier: "gold" } }, "card declined");
  logger.error({ err: new TypeError("amount must be positive") }, "charge failed");
  logger.child({ module: "db" }).debug("slow query");
}

function bunyanLines() {
  const bunyan = require("bunyan");
  const logger = bunyan.createLogger({
    name: "shop",
    level: "trace",
    serializers: bunyan.stdSerializers,
    streams: [{ stream: process.stdout }],
  });
  logger.warn({ orderId: 42, customer: { tier: "gold" } }, "card declined");
  logger.error({ err: new TypeError("amount must be positive") }, "charge failed");
  logger.child({ module: "db" }).debug("slow query");
}

function winstonLines() {
  const winston = require("winston");
  const logger = winston.createLogger({
    level: "silly",
    format: winston.format.combine(
      winston.format.errors({ stack: true }),
      winston.format.timestamp(),
      winston.format.json(),
    ),
    defaultMeta: { service: "shop" },
    transports: [new winston.transports.Console()],
  });
  logger.warn("card declined", { orderId: 42, customer: { tier: "gold" } });
  logger.error(new TypeError("amount must be positive"));
  logger.child({ module: "db" }).verbose("slow query");
}

({ pino: pinoLines, bunyan: bunyanLines, winston: winstonLines })[which]();
