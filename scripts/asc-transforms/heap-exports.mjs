// AssemblyScript transform for the release firmware (passed by scripts/build.mjs):
// exports `__data_end` (end of the static data) and `__heap_base` (where the
// stub runtime's heap starts), as a C toolchain's linker would, so that a C host
// or runtime can size linear memory (WAMR trims its reservation with them) and
// report the static/heap split (host-shim/ABI.md, boards/README.md).
import binaryen from "assemblyscript/binaryen";

export default {
  /** `module` is asc's binaryen.js Module. */
  afterCompile(module) {
    let dataEnd = 0;
    const ref = module.ptr;
    for (let i = 0, n = binaryen._BinaryenGetNumDataSegments(ref); i < n; i++) {
      const seg = binaryen._BinaryenGetDataSegmentByIndex(ref, i);
      if (binaryen._BinaryenGetDataSegmentPassive(seg)) continue;
      dataEnd = Math.max(dataEnd, binaryen._BinaryenGetDataSegmentByteOffset(ref, seg) + binaryen._BinaryenGetDataSegmentByteLength(seg));
    }
    // AssemblyScript's own __heap_base (16-byte aligned after the data) when the runtime uses it.
    const asHeapBase = module.getGlobal("~lib/memory/__heap_base");
    const heapBase = asHeapBase ? binaryen.getExpressionInfo(binaryen.getGlobalInfo(asHeapBase).init).value : (dataEnd + 15) & ~15;
    if (!(heapBase >= dataEnd)) throw new Error(`heap-exports: __heap_base ${heapBase} below __data_end ${dataEnd}`);
    module.addGlobal("__data_end", binaryen.i32, false, module.i32.const(dataEnd));
    module.addGlobal("__heap_base", binaryen.i32, false, module.i32.const(heapBase));
    module.addGlobalExport("__data_end", "__data_end");
    module.addGlobalExport("__heap_base", "__heap_base");
  },
};
