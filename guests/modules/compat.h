/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Small helpers over kernel API changes, so that one source of each stress
 * module builds against every kernel the rig supports (6.1 LTS, 6.12 LTS,
 * mainline 7.x). Each helper says when the API changed.
 */
#ifndef MODRIG_COMPAT_H
#define MODRIG_COMPAT_H

#include <linux/fs.h>
#include <linux/hrtimer.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/version.h>

/*
 * modrig_hrtimer_setup() - initialise @timer to call @function
 *
 * hrtimer_setup() arrived in v6.13 and replaced hrtimer_init() plus the
 * assignment of ->function; v7.x no longer has hrtimer_init().
 */
static inline void modrig_hrtimer_setup(struct hrtimer *timer,
					enum hrtimer_restart (*function)(struct hrtimer *),
					clockid_t clock_id, enum hrtimer_mode mode)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 13, 0)
	hrtimer_setup(timer, function, clock_id, mode);
#else
	hrtimer_init(timer, clock_id, mode);
	timer->function = function;
#endif
}

/*
 * DEFINE_SHOW_STORE_ATTRIBUTE() - a seq_file control file with a write
 * method: @name_show() reads it, @name_write() writes it. In
 * <linux/seq_file.h> since v6.2; this is its definition, for 6.1.
 */
#ifndef DEFINE_SHOW_STORE_ATTRIBUTE
#define DEFINE_SHOW_STORE_ATTRIBUTE(__name)					\
static int __name ## _open(struct inode *inode, struct file *file)		\
{										\
	return single_open(file, __name ## _show, inode->i_private);		\
}										\
										\
static const struct file_operations __name ## _fops = {				\
	.owner		= THIS_MODULE,						\
	.open		= __name ## _open,					\
	.read		= seq_read,						\
	.write		= __name ## _write,					\
	.llseek		= seq_lseek,						\
	.release	= single_release,					\
}
#endif

#endif /* MODRIG_COMPAT_H */
