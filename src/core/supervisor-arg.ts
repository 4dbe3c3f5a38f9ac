/**
 * The hidden first argument that runs the checkpoint supervisor. People never type it: `start
 * --detach --checkpoint-interval` spawns it and hands over its checked options on stdin.
 */
export const SUPERVISOR_ARG = '__supervise';
