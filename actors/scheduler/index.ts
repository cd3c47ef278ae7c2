// The scheduler (DESIGN.md section 6, step 3): its pure placement core. The actor that feeds it
// from the store and proposes assignments comes with the orchestration issue.
export * from './constraint.js';
export * from './placement.js';
