// SPDX-License-Identifier: GPL-2.0
/*
 * victim_trivial: the smallest module that can be loaded and unloaded.
 * It does nothing in init or exit, so any cost or failure seen around its
 * unload belongs to the kernel's module code, not to the module.
 */
#include <linux/init.h>
#include <linux/module.h>

static int __init victim_trivial_init(void)
{
	return 0;
}

static void __exit victim_trivial_exit(void)
{
}

module_init(victim_trivial_init);
module_exit(victim_trivial_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("modrig");
MODULE_DESCRIPTION("modrig victim: loads and unloads, does nothing");
