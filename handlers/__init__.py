"""The conversation: screens, buttons, texts and conversation state. Framework-free."""
