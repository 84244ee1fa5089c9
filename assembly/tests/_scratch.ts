// Shared by test entries: a static scratch area the JS side writes inputs into
// and reads outputs from (no allocation, same as the firmware's discipline).
const SCRATCH_SIZE: i32 = 1 << 18;
const scratchArea = memory.data(1 << 18, 16);
export function scratch(): usize { return scratchArea; }
export function scratchSize(): i32 { return SCRATCH_SIZE; }
