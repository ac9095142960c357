// SPDX-License-Identifier: GPL-2.0
/*
 * fixture_panic: panics in its init. The rig must call the run PANIC and
 * show the panic's excerpt.
 */
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/panic.h>

static int __init fixture_panic_init(void)
{
	panic("modrig fixture: panic in init");
	return 0;
}

module_init(fixture_panic_init);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("modrig");
MODULE_DESCRIPTION("modrig fixture: panics when loaded");
