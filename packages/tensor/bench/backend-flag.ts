// `--backend <name>[:<mode>]` on a benchmark's command line selects the backend before the
// benchmark runs; `pnpm bench --backend gpu` passes it to every benchmark script.
//   import './backend-flag.js';     // first import of a bench that runs through kernels()
// With the gpu backend, the number of device arrays still alive is printed when the process
// exits (after a gc), so a bench also shows whether device memory leaks.
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import vm from 'node:vm';
import { backendInfo, gpuBackend, setBackend } from '../src/index.js';

const { values } = parseArgs({ options: { backend: { type: 'string' } }, strict: false });

/** The backend the flag asked for ('cpu' when none was given). */
export const requestedBackend = typeof values.backend === 'string' ? values.backend : 'cpu';

if (requestedBackend !== 'cpu') {
  const [name, mode] = requestedBackend.split(':');
  setBackend(name!, mode ? { mode } : {});
  const info = backendInfo();
  console.log(`--backend ${requestedBackend}: ${info.description}`);
  if (info.name === 'gpu') {
    process.on('exit', () => {
      v8.setFlagsFromString('--expose-gc');
      (vm.runInNewContext('gc') as () => void)();
      // finalizers cannot run any more at exit: this counts what was alive at the last collection
      console.log(`gpu: device arrays not released at exit: ${gpuBackend.device?.liveArrays ?? 0} (dropped ones are released when the program yields to the event loop, or per step with tidy()); kernels compiled: ${gpuBackend.device?.kernelCount ?? 0}`);
    });
  }
}
