// Accept-header negotiation for answers the proxy writes itself: kubectl's Table
// (`application/json;as=Table;v=v1;g=meta.k8s.io`), plain JSON, or 406. Media ranges are taken in the
// client's order of preference (q values honoured), as the apiserver's negotiation does.

export type MediaChoice = { kind: 'json' } | { kind: 'table' } | { kind: 'not-acceptable' };

interface MediaRange {
  type: string;
  params: Record<string, string>;
  q: number;
  index: number;
}

function parseAccept(header: string): MediaRange[] {
  return header
    .split(',')
    .map((part, index) => {
      const [type = '', ...rest] = part.split(';').map((s) => s.trim());
      const params: Record<string, string> = {};
      for (const p of rest) {
        const eq = p.indexOf('=');
        if (eq > 0) params[p.slice(0, eq).trim().toLowerCase()] = p.slice(eq + 1).trim().replace(/^"|"$/g, '');
      }
      const q = params.q === undefined ? 1 : Number(params.q);
      return { type: type.toLowerCase(), params, q: Number.isFinite(q) ? q : 0, index };
    })
    .filter((r) => r.type.length > 0 && r.q > 0)
    .sort((a, b) => b.q - a.q || a.index - b.index);
}

export function negotiate(accept: string | undefined): MediaChoice {
  if (accept === undefined || accept.trim() === '') return { kind: 'json' };
  for (const range of parseAccept(accept)) {
    const as = range.params.as;
    if (range.type === 'application/json' || range.type === 'application/*' || range.type === '*/*') {
      if (as === undefined) return { kind: 'json' };
      if (as === 'Table' && (range.params.g ?? '') === 'meta.k8s.io' && (range.params.v === 'v1' || range.params.v === 'v1beta1')) return { kind: 'table' };
    }
  }
  return { kind: 'not-acceptable' };
}

/** Whether an error body may be plain compact JSON (else the apiserver falls back to indented JSON). */
export function acceptsPlainJson(accept: string | undefined): boolean {
  if (accept === undefined || accept.trim() === '') return true;
  return parseAccept(accept).some((r) => (r.type === 'application/json' || r.type === '*/*' || r.type === 'application/*') && r.params.as === undefined);
}
