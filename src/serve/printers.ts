// Table printers per served type: built-in printers for built-in kinds, and for custom resources the
// additionalPrinterColumns of their CustomResourceDefinition (read from the CRD informer), as the
// apiserver does.
import type { KubeObject } from '../../streams/kube-object.ts';
import type { ResourceType } from '../../streams/resource-type.ts';
import { printerFor, type CrdPrinterColumn, type TablePrinter } from '../table/printers.ts';

export interface CrdSource {
  get(key: string): KubeObject | undefined;
}

interface CrdVersion {
  name: string;
  additionalPrinterColumns?: CrdPrinterColumn[];
}

export class Printers {
  readonly #crds: () => CrdSource | undefined;
  readonly #cache = new WeakMap<KubeObject, Map<string, TablePrinter>>();
  readonly #builtIn = new Map<string, TablePrinter>();

  constructor(crds: () => CrdSource | undefined) {
    this.#crds = crds;
  }

  printer(type: ResourceType, version: string): TablePrinter {
    if (!type.custom) {
      const key = `${type.group}/${type.resource}`;
      let p = this.#builtIn.get(key);
      if (!p) this.#builtIn.set(key, (p = printerFor(type.group, type.resource)));
      return p;
    }
    const crd = this.#crds()?.get(`${type.resource}.${type.group}`);
    if (!crd) return printerFor(type.group, type.resource, []);
    let byVersion = this.#cache.get(crd);
    if (!byVersion) this.#cache.set(crd, (byVersion = new Map()));
    let p = byVersion.get(version);
    if (!p) {
      const versions = ((crd.spec as { versions?: CrdVersion[] } | undefined)?.versions ?? []);
      const columns = versions.find((v) => v.name === version)?.additionalPrinterColumns ?? [];
      byVersion.set(version, (p = printerFor(type.group, type.resource, columns)));
    }
    return p;
  }
}
