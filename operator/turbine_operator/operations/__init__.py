"""Operations: reconcile and delete procedures over the adapters, free of kopf."""
