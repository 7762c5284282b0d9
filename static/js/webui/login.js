// The sign-in page: forget any socket token a previous sign-in of this tab left behind.
for (const key of Object.keys(sessionStorage)) {
  if (key.startsWith("webui-token:")) sessionStorage.removeItem(key);
}
