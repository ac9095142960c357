// SPDX-License-Identifier: GPL-2.0
/*
 * victim_export: a victim that exports two GPL-only symbols, so that other
 * modules can reach it, and its struct module, without find_module() (not
 * exported since 5.12):
 *
 *   int victim_export_ping(void)                 counts calls
 *   struct module *victim_export_owner(void)     returns THIS_MODULE
 *
 * Callers should use symbol_get()/symbol_put() (symbol_get() only works on
 * GPL-only exports since 6.6). symbol_get() takes a reference on this
 * module for as long as the caller holds the symbol; a module that linked
 * against these symbols instead would pin this one for as long as it
 * stayed loaded. refcount_hammer shows how to hold the struct module
 * without pinning it (see the comment at the top of refcount_hammer.c).
 */
#include <linux/atomic.h>
#include <linux/export.h>
#include <linux/init.h>
#include <linux/module.h>

#include "victim_export.h"

static atomic_t victim_export_pings = ATOMIC_INIT(0);

int victim_export_ping(void)
{
	return atomic_inc_return(&victim_export_pings);
}
EXPORT_SYMBOL_GPL(victim_export_ping);

struct module *victim_export_owner(void)
{
	return THIS_MODULE;
}
EXPORT_SYMBOL_GPL(victim_export_owner);

static int __init victim_export_init(void)
{
	return 0;
}

static void __exit victim_export_exit(void)
{
}

module_init(victim_export_init);
module_exit(victim_export_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("modrig");
MODULE_DESCRIPTION("modrig victim: exports victim_export_ping() and victim_export_owner()");
