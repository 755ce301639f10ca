import nodemailer from 'nodemailer';

export interface Mail {
  to: string;
  subject: string;
  text: string;
}

/** SPEC 13.3: invitation and reset mail. */
export interface Mailer {
  send(mail: Mail): Promise<void>;
  close(): void;
}

/**
 * Mail through GATEHOUSE_SMTP_URL (smtp:// with STARTTLS when the server offers it, smtps:// for TLS from the first
 * byte). The URL may carry credentials: it is never logged, and neither is a message (it holds a one-time link).
 */
export function smtpMailer(smtpUrl: string, from: string): Mailer {
  const transport = nodemailer.createTransport(smtpUrl, { from });
  return {
    async send(mail) {
      await transport.sendMail({ to: mail.to, subject: mail.subject, text: mail.text });
    },
    close: () => transport.close(),
  };
}
