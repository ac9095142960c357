/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Where modrig's stress modules put their debugfs files.
 *
 * Every module owns one directory, /sys/kernel/debug/modrig/<module>/,
 * which it creates at load and removes (recursively) at unload. The shared
 * parent /sys/kernel/debug/modrig/ is created by whichever module loads
 * first and is never removed: an empty debugfs directory holds no module
 * code or data, while removing it "when empty" cannot be done safely from
 * independent modules (there is no lock they share, and debugfs_remove()
 * is recursive, so a module could delete another module's live files and
 * leave it holding freed dentries). Two modules loading concurrently may
 * both find the parent missing; the loser of debugfs_create_dir() (which
 * logs "Directory 'modrig' ... already present!") looks it up again.
 */
#ifndef MODRIG_DEBUGFS_H
#define MODRIG_DEBUGFS_H

#include <linux/debugfs.h>
#include <linux/err.h>
#include <linux/mutex.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#define MODRIG_DEBUGFS_TOP "modrig"

/*
 * modrig_debugfs_create_dir() - create /sys/kernel/debug/modrig/@name/
 *
 * Returns the new directory or an ERR_PTR(). The caller removes it with
 * debugfs_remove() and never touches the parent.
 */
static inline struct dentry *modrig_debugfs_create_dir(const char *name)
{
	struct dentry *top, *dir;

	/* debugfs_lookup() returns a reference the caller must dput(). */
	top = debugfs_lookup(MODRIG_DEBUGFS_TOP, NULL);
	if (!top) {
		top = debugfs_create_dir(MODRIG_DEBUGFS_TOP, NULL);
		if (!IS_ERR(top))
			/* Created: the tree holds it; keep it for ever. */
			return debugfs_create_dir(name, top);
		/* Lost a creation race: the winner's directory stays. */
		top = debugfs_lookup(MODRIG_DEBUGFS_TOP, NULL);
		if (!top)
			return ERR_PTR(-ENOENT);
	}
	dir = debugfs_create_dir(name, top);
	dput(top);
	return dir;
}

/*
 * modrig_get_word() - copy a short word written to a control file
 *
 * Copies @count bytes from @ubuf into @buf (of @len bytes) and terminates
 * it; a trailing newline stays for sysfs_streq() to ignore. Returns 0,
 * -EINVAL when the word does not fit, or -EFAULT.
 */
static inline int modrig_get_word(const char __user *ubuf, size_t count,
				  char *buf, size_t len)
{
	if (count >= len)
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = '\0';
	return 0;
}

/*
 * modrig_control_write() - the `control` file of every stress module
 *
 * Under @lock, "start" calls @start (its error is returned) and "stop"
 * calls @stop; any other word is -EINVAL. Returns @count on success.
 */
static inline ssize_t modrig_control_write(const char __user *ubuf,
					   size_t count, struct mutex *lock,
					   int (*start)(void),
					   void (*stop)(void))
{
	char buf[16];
	int ret = modrig_get_word(ubuf, count, buf, sizeof(buf));

	if (ret)
		return ret;
	ret = mutex_lock_interruptible(lock);
	if (ret)
		return ret;
	if (sysfs_streq(buf, "start"))
		ret = start();
	else if (sysfs_streq(buf, "stop"))
		stop();
	else
		ret = -EINVAL;
	mutex_unlock(lock);
	return ret ?: count;
}

#endif /* MODRIG_DEBUGFS_H */
