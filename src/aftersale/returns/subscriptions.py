"""What returns does when other apps' events arrive (filled by the returns core work)."""
