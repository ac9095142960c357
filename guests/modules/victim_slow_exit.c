// SPDX-License-Identifier: GPL-2.0
/*
 * victim_slow_exit: a victim whose exit function sleeps for exit_ms
 * milliseconds, modelling a module that takes long to tear down. The
 * sleep happens after delete_module() has marked the module GOING, so for
 * its whole length try_module_get() on the module fails and a second rmmod
 * fails with -EBUSY ("already dying").
 *
 * The sleep is cut into msleep() calls of at most one second, so that an
 * exit longer than the hung-task timeout is a slow unload, not a hung task
 * (the detector only reports tasks that were not scheduled at all; see
 * fixture_hang_exit for an exit that really hangs).
 */
#include <linux/delay.h>
#include <linux/init.h>
#include <linux/minmax.h>
#include <linux/module.h>
#include <linux/moduleparam.h>

static unsigned int exit_ms;
module_param(exit_ms, uint, 0644);
MODULE_PARM_DESC(exit_ms, "how long the exit function sleeps, in ms (default 0)");

static int __init victim_slow_exit_init(void)
{
	return 0;
}

static void __exit victim_slow_exit_exit(void)
{
	/* Read once: the parameter is writable through sysfs until now. */
	unsigned int left = READ_ONCE(exit_ms);

	while (left) {
		unsigned int chunk = min(left, 1000U);

		msleep(chunk);
		left -= chunk;
	}
}

module_init(victim_slow_exit_init);
module_exit(victim_slow_exit_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("modrig");
MODULE_DESCRIPTION("modrig victim: its exit sleeps exit_ms milliseconds");
