/**
 * Time between SIGTERM and SIGKILL when standby stops a program it runs (an action at its timeout, a probe
 * program on abort): long enough to exit cleanly, short enough that nothing waits on a program that will not.
 */
export const KILL_GRACE_MS = 1000;
