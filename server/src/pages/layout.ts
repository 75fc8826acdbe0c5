import { html, raw, RawHtml } from './html';

const STYLE = `
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;background:#f4f5f7;color:#1d2330;margin:0}
main{max-width:420px;margin:8vh auto;background:#fff;border-radius:10px;padding:28px 32px;box-shadow:0 2px 12px rgba(0,0,0,.08)}
h1{font-size:1.3rem;margin:0 0 16px}
label{display:block;margin:12px 0 4px;font-weight:600;font-size:.9rem}
input[type=email],input[type=password],input[type=text],select{width:100%;box-sizing:border-box;padding:9px;border:1px solid #c8ccd4;border-radius:6px;font-size:1rem}
button{margin-top:18px;padding:10px 16px;border:0;border-radius:6px;font-size:1rem;cursor:pointer;background:#2d5bd7;color:#fff}
button.secondary{background:#e4e7ec;color:#1d2330;margin-left:8px}
input[aria-invalid=true]{border-color:#c0392b;outline:2px solid #f3b6b0}
.error{background:#fdecec;color:#8a1c1c;padding:10px;border-radius:6px;margin-bottom:12px}
.muted{color:#5f6b7a;font-size:.9rem}
dl{display:grid;grid-template-columns:auto 1fr;gap:6px 12px}dt{font-weight:600}dd{margin:0;min-width:0;overflow-wrap:break-word}
ul.scopes{margin:0;padding-left:1.1em}
p,dd,li{hyphens:none;overflow-wrap:break-word}
a{color:#2d5bd7}
a.provider{display:block;text-align:center;padding:10px 16px;border:1px solid #c8ccd4;border-radius:6px;text-decoration:none;font-weight:600}
summary{cursor:pointer;color:#5f6b7a;margin-top:12px}
`;

/**
 * The one layout of every server-rendered page: sign-in, consent, error pages. The icon is the
 * console's: without one, browsers ask for /favicon.ico, a 404 logged as an error in their console.
 * `base` is the gateway's base path ('' or e.g. '/gatehouse', common/base-path.ts): every link and
 * form action of a page starts with it.
 */
export function page(base: string, title: string, body: RawHtml): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><link rel="icon" type="image/svg+xml" href="${base}/admin/favicon.svg"><title>${title} · Gatehouse</title><style>${raw(STYLE)}</style></head>
<body><main>${body}</main></body></html>`.html;
}
