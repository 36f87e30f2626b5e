import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const ASSETS: { readonly [name: string]: string } = {
  'swagger-ui.css': 'text/css; charset=UTF-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=UTF-8',
  'swagger-ui-standalone-preset.js': 'text/javascript; charset=UTF-8',
  'favicon-32x32.png': 'image/png',
};

let assetDir: string | undefined;
const cache = new Map<string, Uint8Array<ArrayBuffer>>();

/** A Swagger UI file, served from the `swagger-ui-dist` package (no CDN: works offline). */
export function swaggerUiAsset(name: string): { body: Uint8Array<ArrayBuffer>; type: string } | undefined {
  const type = ASSETS[name];
  if (!type) return undefined;
  let body = cache.get(name);
  if (!body) {
    assetDir ??= path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
    body = new Uint8Array(fs.readFileSync(path.join(assetDir, name)));
    cache.set(name, body);
  }
  return { body, type };
}

/** The Swagger UI page over the OpenAPI document at `specUrl`. */
export function swaggerUiPage(specUrl: string, title: string): string {
  const esc = (s: string) => s.replace(/[&<>"]/g, (ch) => `&#${ch.charCodeAt(0)};`);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${esc(title)} · API docs</title>
<link rel="icon" href="/docs/favicon-32x32.png">
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/swagger-ui-standalone-preset.js"></script>
<script>
window.ui = SwaggerUIBundle({
  url: ${JSON.stringify(specUrl)},
  dom_id: '#swagger-ui',
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: 'StandaloneLayout',
});
</script>
</body>
</html>
`;
}
