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

#endif /* MODRIG_DEBUGFS_H */
