/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Fault injection, compiled in only with -DCORDON_FAULT_INJECTION=ON (the
 * test builds). CORDON_FAULT=<step> makes that step fail with EIO so tests
 * can prove a failed setup step fails the job and leaves nothing behind.
 * A comma-separated list names several steps (at most 8 and 255 bytes; a
 * longer list aborts cd_fault_init()); "<step>:once" fails that step the
 * first time only, counted
 * across the processes forked or cloned after cd_fault_init().
 */

/* Read CORDON_FAULT once; call before any clone. Context: parent. */
void cd_fault_init(void);

/* Non-zero if @step should fail now. Context: any, child included. */
int cd_fault(const char *step);

/* After a cd_fault() step that holds rather than fails: wait until the
 * file CORDON_FAULT_RELEASE names exists (at most 60 s), so that a test
 * can hold a thread at a point of its choosing. The file CORDON_FAULT_REACHED
 * names, if any, is created first: the test knows the hold is reached.
 * Context: parent. */
void cd_fault_wait(void);
