// /readyz answers in the apiserver's format: one line per check (`[+]name ok`, `[-]name failed: reason`)
// with `?verbose`, and a short answer otherwise. Reasons can carry upstream error text (an RBAC message
// naming the proxy's service account, an address): they are shown only on the operator's listener,
// and withheld on the public one, where anyone may ask.
export interface ReadinessCheck {
  name: string;
  ok: boolean;
  /** Why it fails (upstream answer, state). */
  reason: string;
  /** Shown beside a passing check in the verbose answer (a degraded replica says so, and stays ready). */
  note?: string;
}

export interface ReadinessAnswer {
  code: number;
  body: string;
}

export function readinessAnswer(checks: readonly ReadinessCheck[], options: { verbose: boolean; showReasons: boolean }): ReadinessAnswer {
  const failed = checks.filter((c) => !c.ok);
  const line = (c: ReadinessCheck) => (c.ok ? `[+]${c.name} ok${c.note ? ` (${c.note})` : ''}` : `[-]${c.name} failed: ${options.showReasons ? c.reason || 'not ready' : 'reason withheld'}`);
  if (failed.length === 0) return { code: 200, body: options.verbose ? `${checks.map(line).join('\n')}\nreadyz check passed\n` : 'ok' };
  const shown = options.verbose ? checks : options.showReasons ? failed : [];
  return { code: 503, body: `${[...shown.map(line), 'readyz check failed'].join('\n')}\n` };
}
