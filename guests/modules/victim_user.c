// SPDX-License-Identifier: GPL-2.0
/*
 * victim_user: a victim that *links* against victim_export, calling its
 * GPL-only export victim_export_ping() at init. The call is an ordinary
 * undefined symbol in this module, resolved by the module loader at insmod
 * (modpost finds it in the Module.symvers of this directory, where
 * victim_export is built too, so the build has no "undefined" warning).
 * That makes the two modules a dependent pair, as depmod would record:
 *
 *   - insmod victim_user without victim_export loaded fails with -ENOENT
 *     (simplify_symbols(): "victim_user: Unknown symbol victim_export_ping
 *     (err -2)" in the kernel log); this module's init never runs;
 *   - at load, the loader's ref_module() takes a reference on
 *     victim_export and records victim_user in victim_export's source_list
 *     (/sys/module/victim_export/refcnt is 1, holders/ lists victim_user);
 *   - while victim_user is loaded, rmmod victim_export fails with
 *     -EWOULDBLOCK ("Resource temporarily unavailable"): delete_module()
 *     refuses a module whose source_list is not empty, before it even
 *     looks at the reference count;
 *   - rmmod victim_user drops both (module_unload_free()), after which
 *     victim_export unloads normally.
 *
 * No parameters, no files.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/printk.h>

#include "victim_export.h"

static int __init victim_user_init(void)
{
	/*
	 * The call that makes this module depend on victim_export. Not inside
	 * pr_debug()'s arguments: without dynamic debug they are not evaluated.
	 */
	int pings = victim_export_ping();

	pr_debug("victim_user: victim_export_ping()=%d\n", pings);
	return 0;
}

static void __exit victim_user_exit(void)
{
}

module_init(victim_user_init);
module_exit(victim_user_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("modrig");
MODULE_DESCRIPTION("modrig victim: links against victim_export, pinning it while loaded");
