/** The server's side of config `tls`: the certificate read at start, renewals served and reported. */
import type tls from "node:tls";
import type { FastifyInstance } from "fastify";
import type { ForewarmMetrics } from "../cluster/metrics.js";
import { type Config, ConfigError } from "../config/config.js";
import type { Logger } from "../log/logger.js";
import { CertificateError, ServerCertificate, watchCertificate } from "./server-certificate.js";

/** The certificate of `tls` (null: plain HTTP); a bad pair stops the start naming the file's field. */
export function serverCertificate(config: Config, logger: Logger): ServerCertificate | null {
  const { certFile, keyFile } = config.tls;
  if (certFile === undefined || keyFile === undefined) return null;
  let certificate: ServerCertificate;
  try {
    certificate = new ServerCertificate(certFile, keyFile);
  } catch (e) {
    if (e instanceof CertificateError) throw new ConfigError(e.field, e.message);
    throw e;
  }
  if (certificate.current.keyExposed) warnKeyExposed(logger, keyFile);
  return certificate;
}

function warnKeyExposed(logger: Logger, keyFile: string): void {
  logger.warn(
    { event: "tls_key_exposed", keyFile },
    `${keyFile} can be read or written by group or others: anyone who reads it can impersonate this server; chmod 600 it`,
  );
}

/** Serves each renewed pair to new connections (those open keep theirs) and reports every change. */
export function watchTls(
  certificate: ServerCertificate,
  app: FastifyInstance,
  config: Config,
  metrics: ForewarmMetrics,
  logger: Logger,
): () => void {
  metrics.tlsServing(certificate.current.notAfter, () => certificate.filesValid);
  // buildApp made an HTTPS server (its type says HTTP: see there).
  const server = app.server as unknown as tls.Server;
  const log = logger.child({ module: "tls" });
  return watchCertificate(
    certificate,
    config.tls.recheckMs,
    (pair) => server.setSecureContext({ key: pair.key, cert: pair.cert }),
    (change) => {
      if ("error" in change) {
        metrics.tlsCertificateReload("rejected");
        log.error(
          { event: "tls_certificate_rejected", field: change.error.field, error: change.error.message },
          "renewed TLS certificate not taken; the previous one is still served",
        );
        return;
      }
      metrics.tlsCertificateReload("taken");
      metrics.tlsCertificateInForce(change.pair.notAfter);
      if (change.pair.keyExposed) warnKeyExposed(log, certificate.keyFile);
      log.info(
        {
          event: "tls_certificate_reloaded",
          subject: change.pair.subject,
          fingerprint: change.pair.fingerprint,
          expires: change.pair.notAfter.toISOString(),
        },
        "serving the renewed TLS certificate",
      );
    },
  );
}
