// SPDX-License-Identifier: GPL-2.0
/*
 * fixture_hang_exit: its exit function never returns: it waits,
 * uninterruptibly and without a timeout, for a completion nobody signals,
 * so rmmod hangs in D state and the hung-task detector reports it. (A
 * msleep() loop would not do: the task wakes every period, and the
 * detector only reports tasks that were not scheduled at all.) The rig must
 * call the run HANG, keep the hung-task report and the sysrq dumps, and kill
 * the guest.
 */
#include <linux/completion.h>
#include <linux/init.h>
#include <linux/module.h>

static DECLARE_COMPLETION(never_completed);

static int __init fixture_hang_exit_init(void)
{
	return 0;
}

static void __exit fixture_hang_exit_exit(void)
{
	pr_info("fixture_hang_exit: exit will never return\n");
	wait_for_completion(&never_completed);
	/* Never printed; keeps this function's frame in the hung task's stack. */
	pr_info("fixture_hang_exit: completed\n");
}

module_init(fixture_hang_exit_init);
module_exit(fixture_hang_exit_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("modrig");
MODULE_DESCRIPTION("modrig fixture: hangs in its exit function");
