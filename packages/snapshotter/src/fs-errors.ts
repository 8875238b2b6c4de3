/** The errno code of a Node fs error (`ENOENT`, `EEXIST`, ...), or undefined for anything else. */
export function errnoCode(err: unknown): string | undefined {
  if (err && typeof err === "object" && "code" in err && typeof err.code === "string") return err.code;
  return undefined;
}

export const isMissing = (err: unknown): boolean => {
  const code = errnoCode(err);
  return code === "ENOENT" || code === "ENOTDIR";
};

/** `rename` onto an existing non-empty directory fails with one of these (Linux: ENOTEMPTY). */
export const isTargetTaken = (err: unknown): boolean => {
  const code = errnoCode(err);
  return code === "ENOTEMPTY" || code === "EEXIST";
};
