// The one-shot job of examples/stack.yml: stands for a schema migration that must finish before
// web starts (web depends on it with condition service_completed_successfully). It prints what
// it does and exits 0.
import process from 'node:process';

const steps = ['create table visits', 'add index visits_at'];
for (const [i, step] of steps.entries()) process.stdout.write(`migrate: ${i + 1}/${steps.length} ${step}\n`);
process.stdout.write('migrate: done\n');
