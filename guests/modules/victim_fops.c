// SPDX-License-Identifier: GPL-2.0
/*
 * victim_fops: a victim that owns a debugfs file,
 * /sys/kernel/debug/modrig/victim_fops/hold, whose file_operations have
 * .owner = THIS_MODULE. Opening the file takes a reference on this module
 * (debugfs' proxy open calls fops_get(), i.e. try_module_get() on .owner)
 * and the last close of that open file drops it, so:
 *
 *   - /sys/module/victim_fops/refcnt is the number of open files;
 *   - rmmod fails with -EWOULDBLOCK ("Resource temporarily unavailable")
 *     while one is open, and succeeds once all are closed.
 *
 * Reading the file returns "open=N\n", N being the number of open files as
 * this module counts them (open() and release() calls), which should equal
 * the refcnt above.
 */
#include <linux/atomic.h>
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/module.h>
#include <linux/seq_file.h>

#include "modrig_debugfs.h"

static struct dentry *victim_fops_dir;
static atomic_t victim_fops_open = ATOMIC_INIT(0);

static int victim_fops_show(struct seq_file *m, void *v)
{
	seq_printf(m, "open=%d\n", atomic_read(&victim_fops_open));
	return 0;
}

static int victim_fops_do_open(struct inode *inode, struct file *file)
{
	int ret = single_open(file, victim_fops_show, NULL);

	if (!ret)
		atomic_inc(&victim_fops_open);
	return ret;
}

static int victim_fops_release(struct inode *inode, struct file *file)
{
	atomic_dec(&victim_fops_open);
	return single_release(inode, file);
}

static const struct file_operations victim_fops_fops = {
	.owner		= THIS_MODULE,
	.open		= victim_fops_do_open,
	.read		= seq_read,
	.llseek		= seq_lseek,
	.release	= victim_fops_release,
};

static int __init victim_fops_init(void)
{
	struct dentry *file;

	victim_fops_dir = modrig_debugfs_create_dir(KBUILD_MODNAME);
	if (IS_ERR(victim_fops_dir))
		return PTR_ERR(victim_fops_dir);
	/* The file is this module's whole point: fail the load without it. */
	file = debugfs_create_file("hold", 0444, victim_fops_dir, NULL,
				   &victim_fops_fops);
	if (IS_ERR(file)) {
		debugfs_remove(victim_fops_dir);
		return PTR_ERR(file);
	}
	return 0;
}

static void __exit victim_fops_exit(void)
{
	debugfs_remove(victim_fops_dir);
}

module_init(victim_fops_init);
module_exit(victim_fops_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("modrig");
MODULE_DESCRIPTION("modrig victim: an open debugfs file holds a module reference");
