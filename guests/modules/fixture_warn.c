// SPDX-License-Identifier: GPL-2.0
/*
 * fixture_warn: WARNs once in its init and then loads normally. The rig
 * must call the run FAIL (a kernel-log event the scenario did not allow)
 * and name the WARNING with its excerpt.
 */
#include <linux/bug.h>
#include <linux/init.h>
#include <linux/module.h>

static int __init fixture_warn_init(void)
{
	WARN(1, "modrig fixture: warning in init\n");
	return 0;
}

static void __exit fixture_warn_exit(void)
{
}

module_init(fixture_warn_init);
module_exit(fixture_warn_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("modrig");
MODULE_DESCRIPTION("modrig fixture: warns when loaded");
