import { describe, expect, it } from 'vitest';
import { BACKEND_PACKAGES, isPackageNotFound, loadBackendPackage, loadBackendPackages } from '../src/index.js';

const notFound = (specifier: string, from = '/app/index.js') =>
  Object.assign(new Error(`Cannot find package '${specifier}' imported from ${from}`), { code: 'ERR_MODULE_NOT_FOUND' });

describe('the backend package map and loader', () => {
  it('maps every shipped backend to its package', () => {
    expect(BACKEND_PACKAGES).toEqual({ cpu: '@moe-runtime/backend-cpu', onnx: '@moe-runtime/backend-onnx', tfjs: '@moe-runtime/backend-tfjs', gpujs: '@moe-runtime/backend-gpujs' });
  });

  it('tells an absent package from one that is present but fails to load', async () => {
    const imported: string[] = [];
    const importer = async (s: string): Promise<unknown> => {
      imported.push(s);
      if (s.endsWith('onnx')) throw notFound(s);
      // a package of its own that is there, whose dependency is missing: present, broken
      if (s.endsWith('tfjs')) throw notFound('@tensorflow/tfjs-core', '/app/node_modules/@moe-runtime/backend-tfjs/dist/index.js');
      if (s.endsWith('gpujs')) throw new Error('libGL.so.1: cannot open shared object file\nstack...');
      return {};
    };
    const loads = await loadBackendPackages(importer, ['cpu', 'onnx', 'tfjs', 'gpujs', 'cpu', 'nope']);
    expect(imported).toEqual(Object.values(BACKEND_PACKAGES));
    expect(loads.map((l) => [l.backend, l.status])).toEqual([
      ['cpu', 'loaded'],
      ['onnx', 'absent'],
      ['tfjs', 'failed'],
      ['gpujs', 'failed'],
      ['nope', 'absent'],
    ]);
    expect(loads[2].reason).toMatch(/@moe-runtime\/backend-tfjs failed to load: Cannot find package '@tensorflow\/tfjs-core'/);
    expect(loads[3].reason).toBe('@moe-runtime/backend-gpujs failed to load: libGL.so.1: cannot open shared object file');
    expect(loads[4].reason).toMatch(/no package registers backend 'nope'/);
  });

  it('loads a real package through the caller importer and reports a real absent one', async () => {
    expect((await loadBackendPackage('cpu', async () => ({}))).status).toBe('loaded');
    const err = await import('@moe-runtime/backend-no-such-package' as string).catch((e: unknown) => e);
    expect(isPackageNotFound(err, '@moe-runtime/backend-no-such-package')).toBe(true);
    expect(isPackageNotFound(new Error("Cannot find package '@moe-runtime/backend-no-such-package'"), '@moe-runtime/backend-no-such-package')).toBe(false); // no code
  });
});
