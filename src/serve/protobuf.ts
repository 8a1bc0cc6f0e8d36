// Just enough protobuf to read what kubectl sends for `auth can-i` when it talks protobuf: the
// Kubernetes envelope (`k8s\0` + runtime.Unknown{typeMeta, raw}) around a SelfSubjectAccessReview, down
// to spec.resourceAttributes. Anything unexpected → undefined (the review is then forwarded).

interface Field {
  number: number;
  wire: number;
  value: Buffer | number;
}

function* fields(buf: Buffer): Generator<Field> {
  let i = 0;
  const varint = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (i >= buf.length) throw new Error('truncated varint');
      const byte = buf[i++] ?? 0;
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7;
    }
  };
  while (i < buf.length) {
    const key = varint();
    const wire = key & 7;
    const number = Math.floor(key / 8);
    if (wire === 0) yield { number, wire, value: varint() };
    else if (wire === 2) {
      const length = varint();
      if (i + length > buf.length) throw new Error('truncated field');
      yield { number, wire, value: buf.subarray(i, i + length) };
      i += length;
    } else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
}

function message(buf: Buffer, number: number): Buffer | undefined {
  for (const f of fields(buf)) if (f.number === number && f.wire === 2 && Buffer.isBuffer(f.value)) return f.value;
  return undefined;
}

const ATTRIBUTE_FIELDS = ['', 'namespace', 'verb', 'group', 'version', 'resource', 'subresource', 'name'] as const;

export function readSelfAccessReviewProtobuf(body: Buffer): Record<string, string> | undefined {
  try {
    if (body.length < 4 || body.subarray(0, 4).toString('latin1') !== 'k8s\0') return undefined;
    const raw = message(body.subarray(4), 2);
    const spec = raw && message(raw, 2);
    const attributes = spec && message(spec, 1);
    if (!attributes) return undefined;
    const out: Record<string, string> = {};
    for (const f of fields(attributes)) {
      const name = ATTRIBUTE_FIELDS[f.number];
      if (name && Buffer.isBuffer(f.value)) out[name] = f.value.toString('utf8');
    }
    return out;
  } catch {
    return undefined;
  }
}
