import fs from 'node:fs';
import type { AuthConfig } from '@dozer/api';
import { ConfigError } from '@dozer/core';
import type { AuthSettings } from './config/index.js';

/**
 * The API's auth settings with key files read. `needPrivateKey` is for
 * issuing tokens (`dozer security generate-token`); serving needs only the
 * public key.
 */
export function resolveAuthConfig(
  settings: AuthSettings,
  options: { needPrivateKey?: boolean } = {},
): AuthConfig {
  const extra = {
    ...(settings.issuer === undefined ? {} : { issuer: settings.issuer }),
    ...(settings.audience === undefined ? {} : { audience: settings.audience }),
  };
  if (settings.algorithm === 'HS256') {
    const secret = settings.secret;
    if (secret === undefined || secret.length === 0) {
      throw new ConfigError(
        'api.auth.secret: HS256 needs a non-empty secret (use `secret: ${DOZER_JWT_SECRET}`)',
      );
    }
    if (secret.length < 32) {
      throw new ConfigError(
        `api.auth.secret: the HS256 secret has ${secret.length} characters; use at least 32 random ones (e.g. \`openssl rand -base64 48\`)`,
      );
    }
    return { algorithm: 'HS256', secret, ...extra };
  }
  if (settings.public_key_file === undefined) {
    throw new ConfigError('api.auth.public_key_file: RS256 needs the PEM public key that verifies tokens');
  }
  const publicKey = readPem(settings.public_key_file, 'api.auth.public_key_file', 'PUBLIC KEY');
  let privateKey: string | undefined;
  if (settings.private_key_file !== undefined) {
    privateKey = readPem(settings.private_key_file, 'api.auth.private_key_file', 'PRIVATE KEY');
  } else if (options.needPrivateKey) {
    throw new ConfigError(
      'api.auth.private_key_file: issuing RS256 tokens needs the PEM private key; add private_key_file',
    );
  }
  return { algorithm: 'RS256', publicKey, ...(privateKey === undefined ? {} : { privateKey }), ...extra };
}

function readPem(file: string, key: string, kind: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(
      `${key}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  if (!text.includes(`-----BEGIN `) || !text.includes(kind)) {
    throw new ConfigError(
      `${key}: ${file} is not a PEM ${kind.toLowerCase()} (expected "-----BEGIN ... ${kind}-----")`,
    );
  }
  return text;
}
